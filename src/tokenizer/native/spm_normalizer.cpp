#include "tokenizer/native/spm_normalizer.h"

#include <cstring>

namespace autoglm::native {
namespace {

// darts-clone DoubleArrayUnit accessors.
bool unit_has_leaf(uint32_t unit) {
  return ((unit >> 8) & 1) == 1;
}
uint32_t unit_value(uint32_t unit) {
  return unit & ((1U << 31) - 1);
}
uint32_t unit_label(uint32_t unit) {
  return unit & ((1U << 31) | 0xFF);
}
uint32_t unit_offset(uint32_t unit) {
  return (unit >> 10) << ((unit & (1U << 9)) >> 6);
}

size_t utf8_length(std::string_view s) {
  const auto lead = static_cast<uint8_t>(s[0]);
  const size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  return len < s.size() ? len : s.size();
}

}  // namespace

Status SpmNormalizer::init(const SpmNormalizerSpec& spec, bool treat_whitespace_as_suffix,
                           const std::vector<std::string>& user_defined) {
  spec_ = spec;
  treat_whitespace_as_suffix_ = treat_whitespace_as_suffix;
  for (const std::string& s : user_defined) {
    user_defined_.insert(s, 1);
    has_user_defined_ = true;
  }
  const std::string& blob = spec.precompiled_charsmap;
  if (blob.empty()) return Status::ok();
  uint32_t trie_bytes = 0;
  if (blob.size() <= 4) return parse_error("precompiled_charsmap is truncated");
  std::memcpy(&trie_bytes, blob.data(), 4);
  if (trie_bytes >= blob.size() - 4 + 1 || trie_bytes % 4 != 0 || trie_bytes == 0)
    return parse_error("precompiled_charsmap trie size " + std::to_string(trie_bytes) + " does not fit its " +
                       std::to_string(blob.size()) + " bytes");
  trie_.resize(trie_bytes / 4);
  std::memcpy(trie_.data(), blob.data() + 4, trie_bytes);
  replacements_ = blob.substr(4 + trie_bytes);
  return Status::ok();
}

std::pair<size_t, uint32_t> SpmNormalizer::longest_rule(std::string_view input) const {
  std::pair<size_t, uint32_t> best{0, 0};
  if (trie_.empty()) return best;
  const size_t n = trie_.size();
  size_t id = unit_offset(trie_[0]);
  for (size_t i = 0; i < input.size(); ++i) {
    const auto byte = static_cast<uint8_t>(input[i]);
    id ^= byte;
    if (id >= n) break;
    const uint32_t unit = trie_[id];
    if (unit_label(unit) != byte) break;
    id ^= unit_offset(unit);
    if (unit_has_leaf(unit)) {
      if (id >= n) break;
      best = {i + 1, unit_value(trie_[id])};
    }
  }
  return best;
}

std::pair<std::string_view, size_t> SpmNormalizer::normalize_prefix(std::string_view input) const {
  if (has_user_defined_) {
    const auto [len, value] = user_defined_.longest_prefix(input, 0);
    if (len > 0) return {input.substr(0, len), len};
  }
  const auto [len, value] = longest_rule(input);
  if (len > 0 && value < replacements_.size()) {
    const char* s = replacements_.data() + value;
    const size_t max = replacements_.size() - value;
    return {std::string_view(s, strnlen(s, max)), len};
  }
  const size_t char_len = utf8_length(input);
  return {input.substr(0, char_len), char_len};
}

std::string SpmNormalizer::normalize(std::string_view input) const {
  std::string out;
  if (spec_.remove_extra_whitespaces) {
    while (!input.empty()) {
      const auto [piece, consumed] = normalize_prefix(input);
      if (piece != " ") break;
      input.remove_prefix(consumed);
    }
  }
  if (input.empty()) return out;
  out.reserve(input.size() * 3 / 2 + 4);
  const std::string_view space = spec_.escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
  if (!treat_whitespace_as_suffix_ && spec_.add_dummy_prefix) out += space;
  bool is_prev_space = spec_.remove_extra_whitespaces;
  while (!input.empty()) {
    auto [piece, consumed] = normalize_prefix(input);
    while (is_prev_space && !piece.empty() && piece.front() == ' ')
      piece.remove_prefix(1);
    if (!piece.empty()) {
      for (char c : piece) {
        if (c == ' ' && spec_.escape_whitespaces) {
          out += kSpaceSymbol;
        } else {
          out += c;
        }
      }
      is_prev_space = piece.back() == ' ';
    }
    input.remove_prefix(consumed);
    if (!spec_.remove_extra_whitespaces) is_prev_space = false;
  }
  if (spec_.remove_extra_whitespaces) {
    while (out.size() >= space.size() && std::string_view(out).substr(out.size() - space.size()) == space)
      out.resize(out.size() - space.size());
  }
  if (treat_whitespace_as_suffix_ && spec_.add_dummy_prefix) out += space;
  return out;
}

}  // namespace autoglm::native
