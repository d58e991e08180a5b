// The autoglm binary end to end: golden output on stdout, and a clear error (non-zero exit, the file and
// the problem named, no crash) for each kind of broken model directory.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "loader/weight_source.h"
#include "support/golden_fixture.h"
#include "support/safetensors_writer.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i)
    s += (i ? " " : "") + std::to_string(ids[i]);
  return s;
}

struct CliRun {
  int code;
  std::string out, err;
};

CliRun generate(const std::string& model_dir,
                const std::string& extra = "--prompt-ids \"5 6 7\" -n 4 --temp 0") {
  CliRun r;
  r.code =
      test::run_command(test::autoglm_binary() + " generate -m " + model_dir + " " + extra, &r.out, &r.err);
  return r;
}

// A copy of the llama3 fixture whose tensors pass through `edit` before being written back.
std::string broken_copy(const std::string& name,
                        const std::function<void(std::vector<test::SafetensorsTensor>&)>& edit) {
  const std::string src = test::fixture_dir("llama3");
  const std::string dir = test::temp_dir("cli_" + name);
  fs::copy_file(src + "/config.json", dir + "/config.json");
  auto source = open_weight_source(src).value();
  std::vector<test::SafetensorsTensor> tensors;
  for (const auto& tensor_name : source->tensor_names()) {
    const TensorView v = source->view(tensor_name).value();
    const auto* p = static_cast<const uint8_t*>(v.data);
    std::vector<int64_t> shape;
    for (int i = 0; i < v.shape.rank(); ++i)
      shape.push_back(v.shape[i]);
    tensors.push_back({tensor_name, "F32", shape, std::vector<uint8_t>(p, p + v.nbytes())});
  }
  edit(tensors);
  EXPECT_TRUE(test::write_safetensors(dir + "/model.safetensors", tensors));
  return dir;
}

void expect_clear_error(const CliRun& r, const std::vector<std::string>& words) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  for (const auto& w : words)
    EXPECT_NE(r.err.find(w), std::string::npos) << "'" << w << "' not in: " << r.err;
}

TEST(Cli, GenerateGreedyPrintsHfTokens) {
  for (const auto& name : test::golden_fixture_names()) {
    const auto golden = test::load_golden(name);
    const auto& p = golden.prompts[1];
    const CliRun r = generate(golden.dir, "--prompt-ids \"" + join_ids(p.ids) + "\" -n 32 --temp 0 -t 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, join_ids(p.greedy) + "\n") << name;
    EXPECT_NE(r.err.find("ms/token"), std::string::npos) << r.err;
  }
}

TEST(Cli, GenerateOverTensorParallelRanksPrintsHfTokens) {
  for (const std::string name : {"llama", "glm4"}) {
    const auto golden = test::load_golden(name);
    const auto& p = golden.prompts[2];
    const CliRun r = generate(
        golden.dir, "--prompt-ids \"" + join_ids(p.ids) + "\" -n 32 --temp 0 -t 2 --tensor-parallel 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, join_ids(p.greedy) + "\n") << name;
  }
  expect_clear_error(generate(test::fixture_dir("llama3"), "--prompt-ids \"1 2\" -n 2 --tensor-parallel 2"),
                     {"tensor parallel", "attention heads"});
}

TEST(Cli, SeededSamplingIsReproducible) {
  const std::string dir = test::fixture_dir("qwen2");
  const std::string args = "--prompt-ids \"3 4 5\" -n 24 --temp 1.0 --top-k 50 --top-p 0.9 --seed ";
  const CliRun a = generate(dir, args + "1234"), b = generate(dir, args + "1234"),
               c = generate(dir, args + "99");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST(Cli, MissingConfig) {
  const std::string dir = test::temp_dir("cli_no_config");
  fs::copy_file(test::fixture_dir("llama3") + "/model.safetensors", dir + "/model.safetensors");
  expect_clear_error(generate(dir), {dir + "/config.json"});
}

TEST(Cli, MalformedConfig) {
  const std::string dir = test::temp_dir("cli_bad_config");
  fs::copy_file(test::fixture_dir("llama3") + "/model.safetensors", dir + "/model.safetensors");
  test::write_text(dir + "/config.json", "{\"hidden_size\": 96, \"num_hidden_layers\": ");
  expect_clear_error(generate(dir), {"config.json"});
}

TEST(Cli, ConfigMissingField) {
  const std::string dir = test::temp_dir("cli_config_field");
  fs::copy_file(test::fixture_dir("llama3") + "/model.safetensors", dir + "/model.safetensors");
  std::string config = read_file(test::fixture_dir("llama3") + "/config.json");
  config.replace(config.find("\"hidden_size\""), 13, "\"hidden_sizes\"");
  test::write_text(dir + "/config.json", config);
  expect_clear_error(generate(dir), {"config.json", "hidden_size"});
}

TEST(Cli, UnknownArchitecture) {
  const std::string dir = test::temp_dir("cli_arch");
  fs::copy_file(test::fixture_dir("llama3") + "/model.safetensors", dir + "/model.safetensors");
  std::string config = read_file(test::fixture_dir("llama3") + "/config.json");
  config.replace(config.find("LlamaForCausalLM"), 16, "FooForCausalLM");
  test::write_text(dir + "/config.json", config);
  expect_clear_error(generate(dir), {"FooForCausalLM", "not supported"});
}

TEST(Cli, TruncatedSafetensors) {
  const std::string dir = test::temp_dir("cli_truncated");
  fs::copy_file(test::fixture_dir("llama3") + "/config.json", dir + "/config.json");
  const std::string bytes = read_file(test::fixture_dir("llama3") + "/model.safetensors");
  test::write_text(dir + "/model.safetensors", bytes.substr(0, bytes.size() / 2));
  expect_clear_error(generate(dir), {dir + "/model.safetensors"});
}

TEST(Cli, HeaderLengthBeyondFile) {
  const std::string dir = test::temp_dir("cli_header_len");
  fs::copy_file(test::fixture_dir("llama3") + "/config.json", dir + "/config.json");
  test::write_safetensors_raw(dir + "/model.safetensors", "{}", {}, uint64_t{1} << 40);
  expect_clear_error(generate(dir), {dir + "/model.safetensors", "header"});
}

TEST(Cli, UnknownDtype) {
  const std::string dir = broken_copy("dtype", [](auto& tensors) { tensors[0].dtype = "F8_E4M3"; });
  expect_clear_error(generate(dir), {dir + "/model.safetensors", "F8_E4M3"});
}

TEST(Cli, MissingTensor) {
  const std::string dir = broken_copy("missing", [](auto& tensors) {
    std::erase_if(tensors, [](const auto& t) { return t.name == "model.layers.1.mlp.down_proj.weight"; });
  });
  expect_clear_error(generate(dir), {"model.layers.1.mlp.down_proj.weight"});
}

TEST(Cli, ShapeMismatch) {
  const std::string dir = broken_copy("shape", [](auto& tensors) {
    for (auto& t : tensors) {
      if (t.name == "model.layers.0.self_attn.k_proj.weight") {
        t.shape = {16, 192};  // same bytes, another shape than the config implies ([32, 96])
      }
    }
  });
  expect_clear_error(generate(dir), {"model.layers.0.self_attn.k_proj.weight", "[16, 192]", "[32, 96]"});
}

TEST(Cli, TokenIdOutsideVocabulary) {
  const CliRun r = generate(test::fixture_dir("llama3"), "--prompt-ids \"5 100000\" -n 2");
  expect_clear_error(r, {"100000", "vocabulary"});
}

TEST(Cli, BadTokenIdText) {
  const CliRun r = generate(test::fixture_dir("llama3"), "--prompt-ids \"5 x7\" -n 2");
  expect_clear_error(r, {"x7"});
}

TEST(Cli, ModelDirectoryDoesNotExist) {
  expect_clear_error(generate("/nonexistent/model/dir"), {"/nonexistent/model/dir"});
}

TEST(Cli, BenchRandomWeightsReportsFloor) {
  const std::string dir = test::temp_dir("cli_bench");
  fs::copy_file(test::fixture_dir("glm4") + "/config.json", dir + "/config.json");
  CliRun r;
  r.code =
      test::run_command(test::autoglm_binary() + " bench --config " + dir +
                            "/config.json --random-weights -p 8 -n 4 -r 1 -t 2 --bandwidth-mib 64 --json",
                        &r.out, &r.err);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* key : {"\"pp_tok_s\"", "\"tg_ms_per_token\"", "\"tg_floor_ms_per_token\"",
                          "\"tg_floor_ratio\"", "\"read_bandwidth_gbs\"", "\"weight_bytes_per_token\""}) {
    EXPECT_NE(r.out.find(key), std::string::npos) << key << " missing from " << r.out;
  }
}

// Over two ranks: each streams about half the weights; on the CPU (one shared memory) the floor counts both.
TEST(Cli, BenchOverTensorParallelRanks) {
  const std::string dir = test::temp_dir("cli_bench_tp");
  fs::copy_file(test::fixture_dir("glm4") + "/config.json", dir + "/config.json");
  CliRun r;
  r.code = test::run_command(test::autoglm_binary() + " bench --config " + dir +
                                 "/config.json --random-weights -p 6 -n 3 -r 1 -t 2 --bandwidth-mib 64 "
                                 "--tensor-parallel 2 --json",
                             &r.out, &r.err);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tensor_parallel"], 2);
  const double all = j["weight_bytes_per_token"], rank = j["weight_bytes_per_rank"];
  EXPECT_GT(rank, 0.4 * all);
  EXPECT_LT(rank, 0.6 * all);
  const double floor_ms = j["tg_floor_ms_per_token"], bandwidth = j["read_bandwidth_gbs"];
  EXPECT_NEAR(floor_ms, all / (bandwidth * 1e9) * 1000.0, 1e-6 * floor_ms);
  EXPECT_GT(j["tg_ms_per_token"].get<double>(), 0.0);
  // Ranks that do not divide the attention heads: a clear error, no crash.
  CliRun bad;
  bad.code = test::run_command(test::autoglm_binary() + " bench -m " + test::fixture_dir("llama3") +
                                   " -p 2 -n 1 -r 1 --tensor-parallel 2",
                               &bad.out, &bad.err);
  expect_clear_error(bad, {"tensor parallel", "attention heads"});
}

// A dtype list loads one model per dtype, alternates their repetitions and reports each (a JSON array).
TEST(Cli, BenchComparesDtypesSideBySide) {
  const std::string dir = test::temp_dir("cli_bench_dtypes");
  fs::copy_file(test::fixture_dir("glm4") + "/config.json", dir + "/config.json");
  CliRun r;
  r.code = test::run_command(test::autoglm_binary() + " bench --config " + dir +
                                 "/config.json --random-weights --dtype f32,bf16 -p 4 -n 3 -r 2 -t 2 "
                                 "--bandwidth-mib 64 --json",
                             &r.out, &r.err);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["weight_dtype"], "f32");
  EXPECT_EQ(j[1]["weight_dtype"], "bf16");
  for (const auto& run : j)
    EXPECT_EQ(run["tg_floor_ratio_per_repetition"].size(), 2u);
  CliRun bad;
  bad.code = test::run_command(test::autoglm_binary() + " bench --config " + dir +
                                   "/config.json --random-weights --dtype bf16,q9 -p 4 -n 1 -r 1",
                               &bad.out, &bad.err);
  expect_clear_error(bad, {"q9"});
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// The README's main job: llama2.c's stories260K greedy from BOS, text on stdout, byte for byte.
TEST(Cli, Stories260KFromBosPrintsTheReferenceText) {
  const std::string dir = test::shared_data_dir() + "/models/stories260K/";
  CliRun r = generate(dir + "stories260K.gguf", "-p \"\" -n 200 --temp 0");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(dir + "expected_greedy_t0_n200.txt"));
}

TEST(Cli, TextPromptWithoutTokenizerIsAClearError) {
  CliRun r = generate(test::fixture_dir("llama"), "-p \"hello\" -n 2");
  expect_clear_error(r, {"no tokenizer", "--prompt-ids"});
}

// `autoglm tokenize` reads stdin verbatim (trailing newline included) and prints the reference ids.
TEST(Cli, TokenizeMatchesTheReference) {
  const std::string file = test::temp_dir("cli_tokenize") + "/in.txt";
  test::write_text(file, "Hello world,\n  1234 <|begin_of_text|>!\n");
  const std::string model = test::shared_data_dir() + "/tokenizers/llama3/tokenizer.model";
  CliRun r;
  r.code = test::run_command(test::autoglm_binary() + " tokenize -m " + model + " --special < " + file,
                             &r.out, &r.err);
  ASSERT_EQ(r.code, 0) << r.err;
  // The ids tiktoken gives with Meta's Llama 3 pattern, BOS first.
  EXPECT_EQ(r.out, "128000 9906 1917 345 220 220 4513 19 220 128000 4999\n");
  CliRun d;
  const std::string ids_file = test::temp_dir("cli_detokenize") + "/ids.txt";
  test::write_text(ids_file, "9906 1917 345");
  d.code = test::run_command(test::autoglm_binary() + " tokenize -m " + model + " --decode < " + ids_file,
                             &d.out, &d.err);
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out, "Hello world,\n");
}

}  // namespace
}  // namespace autoglm
