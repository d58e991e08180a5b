#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/hf/regex.h"

#include <pcre2.h>

namespace autoglm::hf {
namespace {

// Bounds on the work of one match attempt: generous for real patterns (whose matches are linear), finite
// for catastrophic backtracking.
constexpr uint32_t kMatchLimit = 5'000'000;
constexpr uint32_t kDepthLimit = 100'000;
constexpr size_t kJitStackMax = 4u << 20;

// Per-thread matching resources, created on first use.
struct ThreadMatchState {
  pcre2_match_data* match_data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;

  ThreadMatchState() {
    match_data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(context, kMatchLimit);
    pcre2_set_depth_limit(context, kDepthLimit);
    jit_stack = pcre2_jit_stack_create(64u << 10, kJitStackMax, nullptr);
    if (jit_stack != nullptr) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~ThreadMatchState() {
    pcre2_match_data_free(match_data);
    pcre2_match_context_free(context);
    if (jit_stack != nullptr) pcre2_jit_stack_free(jit_stack);
  }
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

struct Regex::Impl {
  std::string pattern;
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() { pcre2_code_free(code); }
};

Expected<Regex> Regex::compile(std::string_view pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error_code, buffer, sizeof(buffer));
    return parse_error("invalid regex \"" + std::string(pattern) + "\" at offset " +
                       std::to_string(error_offset) + ": " + reinterpret_cast<const char*>(buffer));
  }
  auto impl = std::make_shared<Impl>();
  impl->pattern = std::string(pattern);
  impl->code = code;
  impl->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  Regex regex;
  regex.impl_ = std::move(impl);
  return regex;
}

const std::string& Regex::pattern() const {
  static const std::string kEmpty;
  return impl_ ? impl_->pattern : kEmpty;
}

void Regex::find_all(std::string_view text, std::vector<MatchSpan>& out) const {
  if (!impl_) return;
  ThreadMatchState& state = thread_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.match_data);
  size_t start = 0;
  uint32_t options = 0;
  while (start <= n) {
    int rc;
    if (impl_->jit) {
      rc = pcre2_jit_match(impl_->code, subject, n, start, options, state.match_data, state.context);
    } else {
      rc = pcre2_match(impl_->code, subject, n, start, options | PCRE2_NO_UTF_CHECK, state.match_data,
                       state.context);
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
      if (options == 0) break;
      // The empty match at `start` was not accepted again: move one character on.
      options = 0;
      ++start;
      while (start < n && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
        ++start;
      continue;
    }
    if (rc < 0) break;  // match or depth limit, or a JIT stack overflow: treat the rest as unmatched
    const size_t s = ovector[0];
    const size_t e = ovector[1];
    if (s > n || e > n || e < s) break;
    out.push_back({s, e});
    start = e;
    options = (s == e) ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
  }
}

}  // namespace autoglm::hf
