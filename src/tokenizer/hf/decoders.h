// HF decoders: vocabulary pieces -> text. Each stage rewrites the list of token strings (HF decode_chain);
// the result is their concatenation. Strings are bytes here: ByteLevel and ByteFallback produce the raw bytes
// the pieces stand for, where HF would turn an incomplete UTF-8 sequence into U+FFFD (callers that need text
// sanitize it; streaming callers need the bytes).
//
// Supported "type"s: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, WordPiece, BPEDecoder,
// Sequence. Others are kUnsupported.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/hf/json_field.h"

namespace autoglm::hf {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

Expected<std::unique_ptr<Decoder>> make_decoder(const JsonField& spec, int depth = 0);

// The ByteLevel decoder (vocab.json + merges.txt loader).
std::unique_ptr<Decoder> make_byte_level_decoder();

}  // namespace autoglm::hf
