// Stop strings over streamed text: generation ends when the text contains one of them, and the text returned
// ends just before it (OpenAI semantics: the stop sequence is not part of the output).
//
// Text that could be the beginning of a stop string is held back until the next piece decides it: exactly the
// longest suffix of the text seen so far that is a proper prefix of some stop string, nothing more, so a
// stream never shows a partial stop string and never waits longer than needed. Stop strings start at a
// character boundary, so the held-back suffix never splits a UTF-8 character.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace autoglm {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);

  bool empty() const { return stops_.empty(); }
  // Adds text; returns the text that is now certain to be output. Once a stop string is found, *stopped is
  // set, the text up to it is returned, and later calls return nothing.
  std::string push(std::string_view text, bool* stopped);
  // The text still held back, at the end of generation without a stop.
  std::string finish();

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace autoglm
