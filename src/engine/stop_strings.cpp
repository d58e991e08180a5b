#include "engine/stop_strings.h"

#include <algorithm>

namespace autoglm {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string StopStringMatcher::push(std::string_view text, bool* stopped) {
  *stopped = stopped_;
  if (stopped_) return {};
  held_.append(text);
  // Earliest occurrence of any stop string: the output ends before it.
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) {
    // A match must involve the new text, but searching the whole held text is as cheap (it is short).
    const size_t at = held_.find(s);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    stopped_ = true;
    *stopped = true;
    std::string out = held_.substr(0, cut);
    held_.clear();
    return out;
  }
  // Hold back the longest suffix that is a proper prefix of a stop string.
  size_t keep = 0;
  for (const std::string& s : stops_) {
    const size_t longest = std::min(s.size() - 1, held_.size());
    for (size_t n = longest; n > keep; --n) {
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopStringMatcher::finish() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace autoglm
