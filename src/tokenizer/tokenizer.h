// Text <-> token ids, exactly as the reference implementation of each format does it (HF `tokenizers` for
// tokenizer.json and vocab.json/merges.txt, tiktoken for rank files, SentencePiece for .model files,
// llama.cpp for vocabularies stored in GGUF metadata).
//
// Input text is bytes. Invalid UTF-8 is first replaced by U+FFFD, one replacement per maximal ill-formed
// subpart (the Unicode recommendation, which is what Python's bytes.decode('utf-8', 'replace') does), so that
// the result equals the reference run on that decoded string. Tokenizers are immutable after loading and
// safe to use from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace autoglm {

struct EncodeOptions {
  // Apply the post-processor's template (BOS/EOS, e.g. HF add_special_tokens=True).
  bool add_special_tokens = true;
  // Special/added token strings in the text become their ids (HF behaviour). False: they are tokenized as
  // plain text (llama.cpp's parse_special=false, used for untrusted user text).
  bool parse_special = true;
};

struct DecodeOptions {
  bool skip_special_tokens = false;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const = 0;
  // The bytes the ids stand for. May end in (or contain) an incomplete UTF-8 sequence when byte-level or
  // byte-fallback pieces split a character; ids outside the vocabulary are skipped.
  virtual std::string decode(std::span<const int32_t> ids, const DecodeOptions& options = {}) const = 0;

  virtual int32_t vocab_size() const = 0;
  // The vocabulary string of an id as stored (e.g. "Ġthe", "▁the", "<0x0A>"); empty if out of range.
  virtual std::string id_to_piece(int32_t id) const = 0;
  virtual std::optional<int32_t> piece_to_id(std::string_view piece) const = 0;
  // Control / special tokens (BOS, EOS, <|im_start|>...): skipped by skip_special_tokens.
  virtual bool is_special(int32_t id) const = 0;
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  // "bpe (byte-level)", "sentencepiece unigram", ... for `autoglm inspect` and logs.
  virtual std::string describe() const = 0;
};

// Opens a tokenizer from: an HF model directory (tokenizer.json, else vocab.json + merges.txt, else
// tokenizer.model), a tokenizer.json file, a tiktoken rank file, a SentencePiece .model file, or a GGUF file
// (its tokenizer.ggml.* metadata). Errors name the file and the problem.
Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path);

// Replaces invalid UTF-8 by U+FFFD as described above; valid input is returned unchanged.
std::string sanitize_utf8(std::string_view text);

}  // namespace autoglm
