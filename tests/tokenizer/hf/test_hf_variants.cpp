// tokenizer.json constructs that no shipped tokenizer uses -- other pre-tokenizers and split behaviors,
// normalizers, post-processors, decoders, added-token flags (lstrip, rstrip, single_word, normalized), BPE
// options (ignore_merges, subword prefix, end-of-word suffix, unk fusing) -- each applied to a real base
// vocabulary and checked against `tokenizers` (write_variants() in tools/tokenizer/make_expectations.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hf_test_data.h"
#include "support/test_data.h"
#include "tokenizer/hf_tokenizer.h"

namespace autoglm {
namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// Base "gpt2_bpe": only a BPE model made of gpt2/vocab.json and merges.txt.
json gpt2_bpe_base() {
  const std::string dir = test::shared_tokenizer_dir("gpt2");
  json merges = json::array();
  std::ifstream in(dir + "/merges.txt");
  std::string line;
  for (int i = 0; std::getline(in, line); ++i) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (i == 0 && line.rfind("#version", 0) == 0)) continue;
    merges.push_back(line);
  }
  return {{"version", "1.0"},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", nullptr},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model", {{"type", "BPE"}, {"vocab", read_json(dir + "/vocab.json")}, {"merges", merges}}}};
}

json build_variant(const json& v) {
  const std::string base = v.at("base");
  json j;
  if (base == "gpt2_bpe") {
    j = gpt2_bpe_base();
  } else if (base == "inline") {
    j = v.at("tokenizer");
  } else {
    j = read_json(test::shared_tokenizer_dir(base) + "/tokenizer.json");
  }
  for (const auto& [k, val] : v.at("set").items())
    j[k] = val;
  for (const auto& [k, val] : v.at("model_set").items())
    j["model"][k] = val;
  return j;
}

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

struct VariantFile {
  std::vector<std::string> texts;
  std::vector<json> variants;
};

const VariantFile& variant_file() {
  static const VariantFile file = [] {
    VariantFile f;
    std::ifstream in(std::string(AUTOGLM_SOURCE_DIR) + "/tests/data/tokenizer/expected/hf_variants.jsonl");
    std::string line;
    std::getline(in, line);
    const json header = json::parse(line).at("header");
    for (const auto& h : header.at("texts_hex"))
      f.texts.push_back(unhex(h.get<std::string>()));
    while (std::getline(in, line))
      f.variants.push_back(json::parse(line));
    return f;
  }();
  return file;
}

std::vector<std::string> variant_names() {
  std::vector<std::string> names;
  for (const auto& v : variant_file().variants)
    names.push_back(v.at("name"));
  return names;
}

class HfVariantTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HfVariantTest, MatchesReference) {
  const VariantFile& file = variant_file();
  const json* v = nullptr;
  for (const auto& candidate : file.variants) {
    if (candidate.at("name") == GetParam()) v = &candidate;
  }
  ASSERT_NE(v, nullptr);
  ASSERT_FALSE(file.texts.empty());
  ASSERT_EQ(v->at("a").size(), file.texts.size());
  const std::string dir = test::temp_dir("hf_variant_" + GetParam());
  const std::string path = dir + "/tokenizer.json";
  std::ofstream(path) << build_variant(*v).dump();
  auto loaded = load_hf_tokenizer_json(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.status().to_string();
  const Tokenizer& tok = **loaded;

  int failures = 0;
  auto check = [&](bool ok, size_t i, const char* what, const std::string& ours, const std::string& ref) {
    if (!ok && ++failures <= 8) {
      ADD_FAILURE() << GetParam() << " text " << i << " \"" << test::escape_bytes(file.texts[i]) << "\" "
                    << what << "\nours " << ours << "\nref  " << ref;
    }
  };
  for (size_t i = 0; i < file.texts.size(); ++i) {
    const std::string& text = file.texts[i];
    const auto a = v->at("a")[i].get<std::vector<int32_t>>();
    const std::string key = std::to_string(i);
    const auto t = v->at("t").contains(key) ? v->at("t")[key].get<std::vector<int32_t>>() : a;
    const auto n = v->at("n").contains(key) ? v->at("n")[key].get<std::vector<int32_t>>() : a;
    const auto ours_a = tok.encode(text, {.add_special_tokens = false, .parse_special = true});
    const auto ours_t = tok.encode(text, {.add_special_tokens = true, .parse_special = true});
    const auto ours_n = tok.encode(text, {.add_special_tokens = false, .parse_special = false});
    check(ours_a == a, i, "ids", test::ids_to_string(ours_a), test::ids_to_string(a));
    check(ours_t == t, i, "ids with special", test::ids_to_string(ours_t), test::ids_to_string(t));
    check(ours_n == n, i, "ids without parsing special", test::ids_to_string(ours_n), test::ids_to_string(n));
    const std::string d = sanitize_utf8(tok.decode(a, {.skip_special_tokens = false}));
    const std::string ds = sanitize_utf8(tok.decode(a, {.skip_special_tokens = true}));
    check(d == v->at("d")[i].get<std::string>(), i, "decode", test::escape_bytes(d),
          test::escape_bytes(v->at("d")[i]));
    check(ds == v->at("ds")[i].get<std::string>(), i, "decode skipping special", test::escape_bytes(ds),
          test::escape_bytes(v->at("ds")[i]));
  }
  EXPECT_EQ(failures, 0);
}

INSTANTIATE_TEST_SUITE_P(Variants, HfVariantTest, ::testing::ValuesIn(variant_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace autoglm
