#include "hub/progress_bar.h"

#include <algorithm>
#include <cstdio>

namespace autoglm::hub {
namespace {

constexpr size_t kMaxLabel = 40;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, int64_t start, bool enabled)
    : label_(std::move(label)), total_(total), start_(start), enabled_(enabled) {
  if (label_.size() > kMaxLabel) label_ = "..." + label_.substr(label_.size() - (kMaxLabel - 3));
  t0_ = std::chrono::steady_clock::now();
}

void ProgressBar::update(int64_t done) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw(done);
}

void ProgressBar::finish(int64_t done) {
  if (!enabled_) return;
  draw(done);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void ProgressBar::break_line() {
  if (!enabled_ || !drawn_) return;
  std::fputc('\n', stderr);
  last_width_ = 0;
}

void ProgressBar::draw(int64_t done) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  const double speed = seconds > 0 ? static_cast<double>(done - start_) / seconds / 1e6 : 0.0;
  char line[256];
  int n;
  if (total_ > 0) {
    n = std::snprintf(line, sizeof line, "%s  %.1f/%.1f MB  %3d%%  %.1f MB/s", label_.c_str(), done / 1e6,
                      total_ / 1e6, static_cast<int>(100.0 * static_cast<double>(done) / total_), speed);
  } else {
    n = std::snprintf(line, sizeof line, "%s  %.1f MB  %.1f MB/s", label_.c_str(), done / 1e6, speed);
  }
  const size_t width = n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof line - 1);
  // Blanks over the tail of a longer previous line (a speed that lost a digit).
  const int pad = last_width_ > width ? static_cast<int>(last_width_ - width) : 0;
  std::fprintf(stderr, "\r%s%*s", line, pad, "");
  std::fflush(stderr);
  last_width_ = width;
  drawn_ = true;
}

}  // namespace autoglm::hub
