// StopStringMatcher: output ends right before the first stop string, text that may start one is held back
// exactly as long as needed, and nothing is lost when no stop string comes.
#include <gtest/gtest.h>

#include <random>

#include "engine/stop_strings.h"

namespace autoglm {
namespace {

// Feeds the pieces; returns the output and whether it stopped.
std::pair<std::string, bool> run(const std::vector<std::string>& stops,
                                 const std::vector<std::string>& pieces) {
  StopStringMatcher m(stops);
  std::string out;
  bool stopped = false;
  for (const std::string& p : pieces) {
    out += m.push(p, &stopped);
    if (stopped) return {out, true};
  }
  return {out + m.finish(), false};
}

TEST(StopStrings, CutsBeforeTheStopString) {
  EXPECT_EQ(run({"\n\n"}, {"Hello", " world", "\n", "\n", "more"}),
            std::make_pair(std::string("Hello world"), true));
  EXPECT_EQ(run({"END"}, {"abcEN", "Dxyz"}), std::make_pair(std::string("abc"), true));
  EXPECT_EQ(run({"END"}, {"abcENDxyz"}), std::make_pair(std::string("abc"), true));
}

TEST(StopStrings, EarliestOfSeveralWins) {
  EXPECT_EQ(run({"world", "lo w"}, {"Hello world"}), std::make_pair(std::string("Hel"), true));
}

TEST(StopStrings, HoldsBackOnlyWhatMayStartAStop) {
  StopStringMatcher m({"STOP"});
  bool stopped = false;
  EXPECT_EQ(m.push("abc", &stopped), "abc");
  EXPECT_EQ(m.push("ST", &stopped), "");    // could be the start of STOP
  EXPECT_EQ(m.push("x", &stopped), "STx");  // was not
  EXPECT_EQ(m.push("S", &stopped), "");
  EXPECT_EQ(m.push("S", &stopped), "S");  // the first S cannot start STOP any more; the second can
  EXPECT_FALSE(stopped);
  EXPECT_EQ(m.finish(), "S");
}

TEST(StopStrings, NoStopLosesNothing) {
  EXPECT_EQ(run({"zz"}, {"a", "z", "b", "z"}), std::make_pair(std::string("azbz"), false));
  EXPECT_EQ(run({}, {"a", "b"}), std::make_pair(std::string("ab"), false));
  EXPECT_EQ(run({""}, {"a", "b"}), std::make_pair(std::string("ab"), false));  // empty stops are ignored
}

TEST(StopStrings, AfterStopNothingMore) {
  StopStringMatcher m({"x"});
  bool stopped = false;
  EXPECT_EQ(m.push("ax", &stopped), "a");
  EXPECT_TRUE(stopped);
  stopped = false;
  EXPECT_EQ(m.push("bbb", &stopped), "");
  EXPECT_TRUE(stopped);
}

TEST(StopStrings, RandomSplitsAgreeWithWholeText) {
  std::mt19937 rng(3);
  const std::string alphabet = "ab\xC3\xA9 ";
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    for (int i = 0; i < 30; ++i)
      text += alphabet[rng() % alphabet.size()];
    const std::vector<std::string> stops = {"aba", "b b", "\xC3\xA9\xC3\xA9"};
    size_t cut = std::string::npos;
    for (const auto& s : stops)
      cut = std::min(cut, text.find(s));
    std::vector<std::string> pieces;
    for (size_t at = 0; at < text.size();) {
      const size_t n = 1 + rng() % 4;
      pieces.push_back(text.substr(at, n));
      at += n;
    }
    const auto [out, stopped] = run(stops, pieces);
    EXPECT_EQ(stopped, cut != std::string::npos);
    EXPECT_EQ(out, cut == std::string::npos ? text : text.substr(0, cut));
  }
}

}  // namespace
}  // namespace autoglm
