// An exclusive advisory lock (flock) on a lock file, held for the object's lifetime. huggingface_hub's
// filelock takes the same flock on the same {cache}/.locks/... path, so a Python download and ours of one
// blob wait for each other instead of appending to one .incomplete file together.
#pragma once

#include <string>

#include "core/status.h"

namespace autoglm::hub {

class FileLock {
 public:
  // Blocks until the lock is free; creates the file and its folders. On a filesystem without flock support
  // the lock is skipped (and the download goes on unguarded, as Python's does).
  static Expected<FileLock> acquire(const std::string& path);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace autoglm::hub
