#include "tokenizer/stream_decoder.h"

#include <algorithm>
#include <span>

namespace autoglm {

size_t complete_utf8_prefix(const std::string& text) {
  const size_t n = text.size();
  // Look at most 3 bytes back for the lead byte of a sequence that runs past the end.
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for its lead
    size_t need = 0;
    if ((c & 0xE0) == 0xC0) {
      need = 2;
    } else if ((c & 0xF0) == 0xE0) {
      need = 3;
    } else if ((c & 0xF8) == 0xF0) {
      need = 4;
    } else {
      return n;  // ASCII or an invalid byte: nothing to wait for
    }
    return back < need ? n - back : n;
  }
  return n;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options)
    : tokenizer_(tokenizer), options_(options) {}

void StreamDecoder::prime(std::span<const int32_t> context) {
  // A few tokens are enough context for a decoder (a leading space, a split character).
  constexpr size_t kContext = 4;
  const size_t keep = std::min(context.size(), kContext);
  ids_.assign(context.end() - static_cast<std::ptrdiff_t>(keep), context.end());
  prefix_offset_ = 0;
  read_offset_ = ids_.size();
  window_released_ = tokenizer_.decode(std::span<const int32_t>(ids_), options_).size();
}

std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  const std::span<const int32_t> all(ids_);
  const std::string text = tokenizer_.decode(all.subspan(prefix_offset_), options_);
  const size_t complete = complete_utf8_prefix(text);
  if (complete <= window_released_) return "";
  std::string out = text.substr(window_released_, complete - window_released_);
  window_released_ = complete;
  if (complete == text.size()) {
    // Everything decoded so far is out: slide the window to start at the previous step's tokens, which
    // gives the next decodes the context of their left neighbours.
    prefix_offset_ = read_offset_;
    read_offset_ = ids_.size();
    window_released_ = tokenizer_.decode(all.subspan(prefix_offset_), options_).size();
  }
  return out;
}

std::string StreamDecoder::finish() {
  const std::span<const int32_t> all(ids_);
  const std::string text = tokenizer_.decode(all.subspan(prefix_offset_), options_);
  std::string out = text.size() > window_released_ ? text.substr(window_released_) : std::string();
  prefix_offset_ = read_offset_ = ids_.size();
  window_released_ = 0;
  return out;
}

}  // namespace autoglm
