#include "support/test_data.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "core/fp8.h"
#include "core/half.h"

namespace autoglm::test {

std::string fixture_dir(const std::string& name) {
  return std::string(AUTOGLM_SOURCE_DIR) + "/tests/data/fixtures/" + name;
}

std::string shared_data_dir() {
  if (const char* env = std::getenv("AUTOGLM_SHARED_DATA")) return env;
  return std::string(AUTOGLM_SOURCE_DIR) + "/../shared/data";
}

std::string temp_dir(const std::string& name) {
  // CTest runs every test in its own process, in parallel: a folder per test keeps two tests that ask for the
  // same name from deleting each other's files.
  std::string owner = "no_test";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
    owner = std::string(info->test_suite_name()) + "." + info->name();
    for (char& c : owner) {
      if (c == '/') c = '_';
    }
  }
  auto path = std::filesystem::path(AUTOGLM_BINARY_DIR) / "test_tmp" / owner / name;
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path.string();
}

std::string autoglm_binary() {
  return std::string(AUTOGLM_BINARY_DIR) + "/tools/autoglm";
}

Tensor random_tensor(DType dtype, Shape shape, uint64_t seed, float lo, float hi) {
  Tensor t = Tensor::host(dtype, shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    const float v = dist(rng);
    switch (dtype) {
      case DType::kF32:
        t.as<float>()[i] = v;
        break;
      case DType::kF16:
        t.as<uint16_t>()[i] = f32_to_f16(v);
        break;
      case DType::kBF16:
        t.as<uint16_t>()[i] = f32_to_bf16(v);
        break;
      case DType::kI32:
        t.as<int32_t>()[i] = static_cast<int32_t>(v);
        break;
      case DType::kF8E4M3:
        t.as<uint8_t>()[i] = f32_to_fp8_e4m3(v);
        break;
      case DType::kQ8_0:
      case DType::kQ4_0:
      case DType::kQ4_K:
      case DType::kQ5_K:
      case DType::kQ6_K:
      case DType::kQ4_Kx8:
        return {};  // block types are made with quantize_row, not element by element
    }
  }
  return t;
}

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
      case DType::kF32:
        out[i] = t.as<float>()[i];
        break;
      case DType::kF16:
        out[i] = f16_to_f32(t.as<uint16_t>()[i]);
        break;
      case DType::kBF16:
        out[i] = bf16_to_f32(t.as<uint16_t>()[i]);
        break;
      case DType::kI32:
        out[i] = static_cast<float>(t.as<int32_t>()[i]);
        break;
      case DType::kF8E4M3:
        out[i] = fp8_e4m3_to_f32(t.as<uint8_t>()[i]);
        break;
      case DType::kQ8_0:
      case DType::kQ4_0:
      case DType::kQ4_K:
      case DType::kQ5_K:
      case DType::kQ6_K:
      case DType::kQ4_Kx8:
        return {};  // block types: dequantize_row
    }
  }
  return out;
}

double rel_max_abs_error(const std::vector<float>& a, const std::vector<float>& b) {
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (std::isnan(d)) return INFINITY;
    max_diff = std::max(max_diff, d);
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(b[i])));
  }
  if (a.size() != b.size()) return INFINITY;
  return max_ref == 0 ? max_diff : max_diff / max_ref;
}

double cosine_similarity(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / (std::sqrt(na) * std::sqrt(nb));
}

int run_command(const std::string& command, std::string* out, std::string* err) {
  static int counter = 0;
  const std::string err_path =
      (std::filesystem::temp_directory_path() /
       ("autoglm_stderr_" + std::to_string(getpid()) + "_" + std::to_string(counter++)))
          .string();
  const std::string full = command + " 2>" + err_path;
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0)
    output.append(buf, n);
  const int status = pclose(pipe);
  if (out) *out = output;
  if (err) {
    std::ifstream f(err_path);
    std::stringstream ss;
    ss << f.rdbuf();
    *err = ss.str();
  }
  std::filesystem::remove(err_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace autoglm::test
