// The tokenizer corpus and the reference expectations (tools/tokenizer/make_corpus.py and
// make_expectations.py) as the HF tokenizer tests read them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace autoglm::test {

// tests/data/tokenizer/corpus.jsonl: the texts as bytes, with their family ("prose", "invalid", ...).
struct CorpusText {
  std::string kind;
  std::string bytes;
};
const std::vector<CorpusText>& tokenizer_corpus();

// One line of tests/data/tokenizer/expected/<name>.jsonl with the defaults already applied.
struct ExpectedLine {
  std::vector<int32_t> ids;                   // add_special_tokens=false, special tokens parsed
  std::vector<int32_t> ids_with_special;      // add_special_tokens=true
  std::vector<int32_t> ids_no_parse_special;  // special tokens not parsed
  std::optional<std::string> decoded;         // decode(ids)
  std::optional<std::string> decoded_skip_special;
};
struct Expectations {
  std::string reference;  // header.reference
  std::vector<ExpectedLine> lines;
};
// Aborts the test (ADD_FAILURE + empty result) when the file is missing or malformed.
Expectations load_expectations(const std::string& name);

// <shared>/tokenizers/<name>
std::string shared_tokenizer_dir(const std::string& name);

// "[1, 2, 3]" for messages.
std::string ids_to_string(const std::vector<int32_t>& ids);
// Printable form of bytes for messages (non-ASCII as \xNN).
std::string escape_bytes(const std::string& bytes, size_t max_len = 120);

}  // namespace autoglm::test
