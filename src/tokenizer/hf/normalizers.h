// HF `tokenizers` normalizers: text -> text before pre-tokenization (and the matching of added tokens whose
// "normalized" flag is set). Only the text is kept, not the alignments HF tracks for offsets: the engine
// never asks for offsets.
//
// Supported "type"s: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace (String or
// Regex pattern; the content is inserted literally), Prepend, BertNormalizer. Others are kUnsupported.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "tokenizer/hf/json_field.h"

namespace autoglm::hf {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `text` (valid UTF-8) in place.
  virtual void normalize(std::string& text) const = 0;
};

// Builds the normalizer described by a tokenizer.json "normalizer" object. `depth` bounds nested Sequences.
Expected<std::unique_ptr<Normalizer>> make_normalizer(const JsonField& spec, int depth = 0);

// Built directly by the vocab.json + merges.txt loader.
std::unique_ptr<Normalizer> make_nfc_normalizer();

}  // namespace autoglm::hf
