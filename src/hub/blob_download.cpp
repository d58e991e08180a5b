#include "hub/blob_download.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "core/log.h"
#include "hub/progress_bar.h"
#include "hub/sha256.h"

namespace autoglm::hub {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// The .incomplete file as the receiving end of a transfer, its size and SHA-256 kept in step with every
// write.
class PartialFile : public BodySink {
 public:
  PartialFile(std::string path, bool hash) : path_(std::move(path)), hash_(hash) {}
  ~PartialFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  // Opens (or creates) the file and hashes what an earlier run left in it.
  Status open() {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return disk_failure("cannot open " + path_ + ": " + errno_text());
    std::vector<char> buf(1 << 20);
    for (;;) {
      const ssize_t n = ::read(fd_, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return disk_failure("cannot read " + path_ + ": " + errno_text());
      if (n == 0) break;
      if (hash_) sha_.update(buf.data(), static_cast<size_t>(n));
      size_ += n;
    }
    return Status::ok();
  }

  // Back to an empty file.
  Status restart() {
    if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) {
      return disk_failure("cannot truncate " + path_ + ": " + errno_text());
    }
    sha_.reset();
    size_ = 0;
    return Status::ok();
  }

  Status begin(const HttpResponse& r) override {
    if (r.status == 206) {
      // "bytes START-END/TOTAL": the data must continue exactly where the file ends.
      const std::string range = r.header("content-range");
      const size_t space = range.find(' ');
      const long long start =
          space == std::string::npos ? -1 : std::strtoll(range.c_str() + space + 1, nullptr, 10);
      if (start != size_) {
        AUTOGLM_RETURN_IF_ERROR(restart());
        return io_error("the server resumed at '" + range + "' instead of byte " + std::to_string(size_));
      }
    } else if (size_ > 0) {
      AUTOGLM_RETURN_IF_ERROR(restart());  // 200: the server ignored the Range and sends it all again
    }
    return Status::ok();
  }

  Status write(const char* data, size_t size) override {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return disk_failure("cannot write " + path_ + ": " + errno_text());
      done += static_cast<size_t>(n);
    }
    if (hash_) sha_.update(data, size);
    size_ += static_cast<int64_t>(size);
    if (progress_) progress_->update(size_);
    return Status::ok();
  }

  Status close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return disk_failure("cannot write " + path_ + ": " + errno_text());
    return Status::ok();
  }

  void set_progress(ProgressBar* progress) { progress_ = progress; }
  int64_t size() const { return size_; }
  std::string digest() { return sha_.hex_digest(); }
  // A local failure (disk full, permissions): retrying the transfer cannot help.
  bool disk_failed() const { return disk_failed_; }

 private:
  Status disk_failure(std::string message) {
    disk_failed_ = true;
    return io_error(std::move(message));
  }

  std::string path_;
  bool hash_;
  ProgressBar* progress_ = nullptr;
  int fd_ = -1;
  int64_t size_ = 0;
  Sha256 sha_;
  bool disk_failed_ = false;
};

void remove_file(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

}  // namespace

Status download_blob(HttpClient& http, const BlobDownload& d) {
  const std::string incomplete = d.blob_path + ".incomplete";
  const std::string& name = d.display_name;
  PartialFile file(incomplete, !d.expected_sha256.empty());
  AUTOGLM_RETURN_IF_ERROR(file.open());
  if (d.expected_size >= 0 && file.size() > d.expected_size) AUTOGLM_RETURN_IF_ERROR(file.restart());
  ProgressBar progress(name, d.expected_size, file.size(), d.progress);
  file.set_progress(&progress);

  auto pause = std::chrono::milliseconds(d.first_pause_ms);
  int attempts = 0;
  int fruitless = 0;  // failed attempts in a row, this one included, that brought no new byte
  for (;; ++attempts) {
    if (d.expected_size >= 0 && file.size() == d.expected_size) break;  // all there (a resumed leftover)
    const int64_t size_before = file.size();
    HttpRequest request;
    request.url = d.url;
    request.headers = d.headers;
    request.range_start = file.size();
    Expected<HttpResponse> r = http.fetch(request, &file);
    if (file.disk_failed()) return r.status();
    Status failure;
    if (!r.has_value()) {
      failure = r.status();
    } else if (r->status >= 200 && r->status < 300) {
      break;
    } else if (r->status == 416 && file.size() > 0) {
      // The leftover reaches past the end of the file: it is not a prefix of this content.
      AUTOGLM_RETURN_IF_ERROR(file.restart());
      failure = io_error("HTTP 416 for a resumed download");
    } else if (r->status == 429 || r->status >= 500) {
      failure = d.http_error(*r);
    } else {
      return d.http_error(*r);
    }
    if (file.size() > size_before) {
      fruitless = 1;
      pause = std::chrono::milliseconds(d.first_pause_ms);
    } else {
      ++fruitless;
    }
    if (failure.code() != StatusCode::kIoError) {
      progress.finish(file.size());
      return failure.with_context("downloading " + name);
    }
    if (fruitless >= d.max_attempts) {
      progress.finish(file.size());
      return failure.with_context("downloading " + name + " (gave up after " + std::to_string(attempts + 1) +
                                  " attempts; run again to resume)");
    }
    progress.break_line();
    log_warn("downloading " + name + ": " + failure.message() + "; resuming at byte " +
             std::to_string(file.size()) + " in " + std::to_string(pause.count()) + " ms");
    std::this_thread::sleep_for(pause);
    pause *= 2;
  }
  progress.finish(file.size());
  AUTOGLM_RETURN_IF_ERROR(file.close());

  if (d.expected_size >= 0 && file.size() != d.expected_size) {
    remove_file(incomplete);
    return parse_error(name + ": downloaded " + std::to_string(file.size()) + " bytes, the hub announced " +
                       std::to_string(d.expected_size) + "; the download was deleted, run again to retry");
  }
  if (!d.expected_sha256.empty()) {
    const std::string actual = file.digest();
    if (actual != d.expected_sha256) {
      remove_file(incomplete);
      return parse_error(name + ": checksum mismatch: expected sha256 " + d.expected_sha256 + ", got " +
                         actual + "; the corrupted download was deleted, run again to retry");
    }
  }
  std::error_code ec;
  std::filesystem::rename(incomplete, d.blob_path, ec);
  if (ec) return io_error("cannot rename " + incomplete + " to " + d.blob_path + ": " + ec.message());
  return Status::ok();
}

}  // namespace autoglm::hub
