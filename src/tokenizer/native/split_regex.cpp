#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/native/split_regex.h"

#include <pcre2.h>

namespace autoglm::native {
namespace {

constexpr std::string_view kWhiteSpace =
    "\\t-\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// Per-thread match state: one match data block serves every pattern (only the whole-match pair is read) and a
// JIT stack larger than PCRE2's 32 KiB default, for long runs under backtracking alternatives.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
  MatchState(const MatchState&) = delete;
  MatchState& operator=(const MatchState&) = delete;
};

MatchState& match_state() {
  thread_local MatchState state;
  return state;
}

size_t code_point_length(const char* p, size_t remaining) {
  const auto lead = static_cast<uint8_t>(*p);
  const size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  return len < remaining ? len : remaining;
}

}  // namespace

struct SplitRegex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

std::string expand_whitespace_classes(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      ++i;
      if (e == 's') {
        if (in_class) {
          out += kWhiteSpace;
        } else {
          out += '[';
          out += kWhiteSpace;
          out += ']';
        }
      } else if (e == 'S' && !in_class) {
        out += "[^";
        out += kWhiteSpace;
        out += ']';
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

Expected<SplitRegex> SplitRegex::compile(std::string_view pattern) {
  const std::string expanded = expand_whitespace_classes(pattern);
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  auto code = std::make_shared<Code>();
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expanded.data()), expanded.size(),
                             PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &error, &error_offset, nullptr);
  if (!code->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return parse_error("pre-tokenizer regex '" + std::string(pattern) + "': " +
                       reinterpret_cast<const char*>(message) + " at offset " + std::to_string(error_offset));
  }
  code->jit = pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE) == 0;
  SplitRegex regex;
  regex.code_ = std::move(code);
  regex.pattern_ = std::string(pattern);
  return regex;
}

void SplitRegex::find_all(std::string_view text, TextRange range, std::vector<TextRange>& out) const {
  MatchState& state = match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + range.begin);
  const size_t length = range.end - range.begin;
  size_t offset = 0;
  while (offset < length) {
    int rc = code_->jit ? pcre2_jit_match(code_->code, subject, length, offset, 0, state.data, state.context)
                        : PCRE2_ERROR_JIT_BADOPTION;
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_JIT_BADOPTION) {
      rc = pcre2_match(code_->code, subject, length, offset, PCRE2_NO_UTF_CHECK, state.data, state.context);
    }
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) {
      // A resource limit on a pathological subject: give up matching one character as its own piece and go
      // on, so that every input still tokenizes.
      const size_t len = code_point_length(text.data() + range.begin + offset, length - offset);
      out.push_back(
          {static_cast<uint32_t>(range.begin + offset), static_cast<uint32_t>(range.begin + offset + len)});
      offset += len;
      continue;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end > begin) {
      out.push_back({static_cast<uint32_t>(range.begin + begin), static_cast<uint32_t>(range.begin + end)});
      offset = end;
    } else {
      offset = begin + code_point_length(text.data() + range.begin + begin, length - begin);
    }
  }
}

void SplitRegex::split(std::string_view text, TextRange range, std::vector<TextRange>& out) const {
  const size_t first = out.size();
  find_all(text, range, out);
  // Insert the gaps between matches: rebuild the tail in place through a small copy.
  if (out.size() == first) {
    if (range.end > range.begin) out.push_back(range);
    return;
  }
  std::vector<TextRange> matches(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
  out.resize(first);
  uint32_t pos = range.begin;
  for (const TextRange& m : matches) {
    if (m.begin > pos) out.push_back({pos, m.begin});
    out.push_back(m);
    pos = m.end;
  }
  if (pos < range.end) out.push_back({pos, range.end});
}

void split_sequence(const std::vector<SplitRegex>& regexes, std::string_view text, TextRange range,
                    std::vector<TextRange>& out) {
  std::vector<TextRange> current{range};
  std::vector<TextRange> next;
  for (const SplitRegex& regex : regexes) {
    next.clear();
    for (const TextRange& piece : current)
      regex.split(text, piece, next);
    current.swap(next);
  }
  for (const TextRange& piece : current) {
    if (piece.end > piece.begin) out.push_back(piece);
  }
}

}  // namespace autoglm::native
