// Paths and small helpers shared by the tests.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace autoglm::test {

// <source>/tests/data/fixtures/<name>: the golden HF fixtures (tools/fixtures/make_fixtures.py).
std::string fixture_dir(const std::string& name);
// AUTOGLM_SHARED_DATA, else <source>/../shared/data.
std::string shared_data_dir();
// A fresh empty directory under the build tree, removed and recreated on each call with the same name.
std::string temp_dir(const std::string& name);
// The built `autoglm` binary.
std::string autoglm_binary();

// Host tensor of uniform values in [lo, hi) from a seeded generator; f16/bf16 are rounded from f32.
Tensor random_tensor(DType dtype, Shape shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
// Values of any float tensor as f32.
std::vector<float> to_f32(const TensorView& t);
// max |a - b| / max |b|
double rel_max_abs_error(const std::vector<float>& a, const std::vector<float>& b);
double cosine_similarity(const std::vector<float>& a, const std::vector<float>& b);

// Runs a shell command, returns its exit status and fills stdout/stderr.
int run_command(const std::string& command, std::string* out, std::string* err = nullptr);

}  // namespace autoglm::test
