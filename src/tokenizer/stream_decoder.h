// Incremental detokenization for streaming: text is released as tokens arrive, never a broken UTF-8
// sequence (a character split over byte-level or byte-fallback tokens is held back until complete), and the
// concatenation of all releases equals decode() of all the tokens.
//
// Decoding a suffix of the ids alone can differ from the matching part of the full decode (SentencePiece
// drops the space that starts a text, byte-level BPE may split a character), so each step decodes a short
// window that starts a few tokens back and releases only what that window adds beyond its previous text.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace autoglm {

class StreamDecoder {
 public:
  // The tokenizer must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options = {});

  // Gives the decoder the tokens before the first one pushed (a prompt), so the first generated token reads
  // as a continuation: with SentencePiece, "Once" then "▁upon" yields " upon", not "upon". Releases nothing.
  void prime(std::span<const int32_t> context);
  // Appends a token and returns the text it completes (possibly empty).
  std::string push(int32_t id);
  // Whatever is still held back (an incomplete UTF-8 tail at the end of generation), returned as is.
  std::string finish();

  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  const Tokenizer& tokenizer_;
  DecodeOptions options_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;    // the decoded window is ids_[prefix_offset_, end)
  size_t read_offset_ = 0;      // where the next window will start
  size_t window_released_ = 0;  // bytes of the window's text already returned
};

// Length of the longest prefix of `text` that does not end inside a UTF-8 sequence: a trailing lead byte
// with fewer continuation bytes than it announces is excluded (an invalid byte counts as complete).
size_t complete_utf8_prefix(const std::string& text);

}  // namespace autoglm
