// Test data of the native tokenizer tests: the shared tokenizer files, llama.cpp's .inp/.out vectors, the
// tokenizer corpus and its reference expectations (tools/tokenizer/make_expectations.py), and checks that
// report the first mismatching texts readably.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace autoglm::test {

// <shared>/tokenizers/<relative>
std::string shared_tokenizer_path(const std::string& relative);
// <source>/tests/data/tokenizer/<relative>
std::string tokenizer_data_path(const std::string& relative);
bool file_exists(const std::string& path);
std::string hex_decode(const std::string& hex);
std::string read_file_bytes(const std::string& path);

// One text of llama.cpp's vectors: ggml-vocab-<name>.gguf.inp holds the texts, each followed by
// "\n__ggml_vocab_test__\n"; .out holds one line per text with the ids (add_special=false), each preceded by
// a space.
struct VocabVector {
  std::string text;
  std::vector<int32_t> ids;
};
std::vector<VocabVector> load_vocab_vectors(const std::string& name);

// A corpus line with its reference fields (missing optional fields are filled from the header's rules).
struct CorpusCase {
  std::string kind;
  std::string text;                         // raw bytes (may be invalid UTF-8)
  std::vector<int32_t> plain;               // "a": add_special_tokens=false, specials parsed
  std::vector<int32_t> with_template;       // "t" or prefix + a + suffix
  std::vector<int32_t> no_parse;            // "n" or a
  std::optional<std::string> decoded;       // "d"
  std::optional<std::string> decoded_skip;  // "ds"
};
// Empty when the expectation file does not exist.
std::vector<CorpusCase> load_corpus_expectations(const std::string& name);

// llama.cpp's own ids for a GGUF vocabulary where they differ from the expectations it is compared with
// (tests/data/tokenizer/gguf/llama_cpp/<vocab>.jsonl, written by tools/tokenizer/make_gguf_vocabs.py
// --llama-cpp): each line {"i": corpus index, "a": ids, "n": ids} with "a" / "n" present where they differ.
// Replaces plain / no_parse of those cases; returns the number of cases changed, or -1 when the file is
// absent.
int apply_llama_cpp_reference(const std::string& vocab, std::vector<CorpusCase>& cases);

std::string ids_to_string(const std::vector<int32_t>& ids);
std::string escape_text(const std::string& text);

// Compares encode(text) with the expected ids for every case; returns the number of mismatches and adds a
// gtest failure with the first few.
size_t count_encode_mismatches(const Tokenizer& tokenizer, const std::vector<VocabVector>& vectors,
                               const EncodeOptions& options, const std::string& label);

}  // namespace autoglm::test
