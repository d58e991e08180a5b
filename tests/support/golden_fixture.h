// The golden data of one HF fixture (tests/data/fixtures/<name>/golden.json, made by
// tools/fixtures/make_fixtures.py with HF transformers in float32).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace autoglm::test {

struct GoldenPrompt {
  std::vector<int32_t> ids;
  std::vector<float> logits;      // HF float32, last position
  std::vector<float> logits_f64;  // HF float64, last position
  std::vector<int32_t> greedy;    // HF float32 greedy continuation
};

struct GoldenFixture {
  std::string name;
  std::string dir;
  std::string architecture;
  std::vector<GoldenPrompt> prompts;
};

GoldenFixture load_golden(const std::string& name);

// Every fixture the script makes: one per supported architecture variant.
inline const std::vector<std::string>& golden_fixture_names() {
  static const std::vector<std::string> names = {"llama", "llama3", "mistral", "qwen2",
                                                 "qwen3", "glm",    "glm4"};
  return names;
}

}  // namespace autoglm::test
