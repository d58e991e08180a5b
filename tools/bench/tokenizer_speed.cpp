// tokenizer_speed TOKENIZER CORPUS.jsonl [REPEATS]: one-thread encode throughput of our tokenizer over the
// corpus (lines {"hex": ...}; invalid UTF-8 is replaced as the reference does), best of REPEATS passes.
// Prints one JSON line: {"bytes": ..., "best_s": ..., "mb_per_s": ..., "tokens": ...}.
// bench/tokenizer_speed.py runs it next to the reference libraries on the same texts.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: tokenizer_speed TOKENIZER CORPUS.jsonl [REPEATS]\n");
    return 2;
  }
  auto tokenizer = autoglm::load_tokenizer(argv[1]);
  if (!tokenizer) {
    std::fprintf(stderr, "error: %s\n", tokenizer.status().to_string().c_str());
    return 1;
  }
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 5;
  std::ifstream in(argv[2]);
  if (!in) {
    std::fprintf(stderr, "error: cannot read %s\n", argv[2]);
    return 1;
  }
  std::vector<std::string> texts;
  size_t bytes = 0;
  for (std::string line; std::getline(in, line);) {
    const std::string hex = nlohmann::json::parse(line).at("hex").get<std::string>();
    std::string text;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
      text += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    texts.push_back(autoglm::sanitize_utf8(text));
    bytes += texts.back().size();
  }
  double best = 1e30;
  size_t tokens = 0;
  for (int r = 0; r < repeats; ++r) {
    tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& t : texts)
      tokens += (*tokenizer)->encode(t, autoglm::EncodeOptions{false, true}).size();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::printf("{\"bytes\": %zu, \"best_s\": %.6f, \"mb_per_s\": %.3f, \"tokens\": %zu}\n", bytes, best,
              static_cast<double>(bytes) / best / 1e6, tokens);
  return 0;
}
