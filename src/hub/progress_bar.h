// A one-line download progress bar on stderr ("file  12.3/45.6 MB  27%  88.1 MB/s"), redrawn in place.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace autoglm::hub {

class ProgressBar {
 public:
  // `total` < 0: unknown. `start` is the byte count already present (a resumed download), left out of the
  // speed. A disabled bar draws nothing.
  ProgressBar(std::string label, int64_t total, int64_t start, bool enabled);

  // Redraws at most ten times a second: a terminal cannot show more, and redrawing per received chunk
  // would cost more than the download on a fast link.
  void update(int64_t done);
  // Draws the final state and ends the line.
  void finish(int64_t done);
  // Ends the line drawn so far, so that a message printed next starts on its own line; the bar goes on below.
  void break_line();

 private:
  void draw(int64_t done);

  std::string label_;
  int64_t total_;
  int64_t start_;
  bool enabled_;
  bool drawn_ = false;
  size_t last_width_ = 0;
  std::chrono::steady_clock::time_point t0_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace autoglm::hub
