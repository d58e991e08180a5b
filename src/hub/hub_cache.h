// One repo's folder in the hub cache, in huggingface_hub's layout (which Python tools read and write too):
//   {cache}/models--{org}--{name}/blobs/{etag}                       content, named by its ETag
//   {cache}/models--{org}--{name}/blobs/{etag}.incomplete            a download in progress (resumable)
//   {cache}/models--{org}--{name}/snapshots/{commit}/{file}          relative symlink to ../../blobs/{etag}
//   {cache}/models--{org}--{name}/refs/{revision}                    the commit hash, no newline
//   {cache}/.locks/models--{org}--{name}/{etag}.lock                 held while a blob is downloaded
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace autoglm::hub {

class RepoCache {
 public:
  RepoCache(const std::string& cache_dir, const std::string& repo_id);

  const std::string& dir() const { return dir_; }
  std::string blob_path(const std::string& etag) const;
  std::string lock_path(const std::string& etag) const;
  std::string snapshot_dir(const std::string& commit) const;
  std::string snapshot_path(const std::string& commit, const std::string& filename) const;

  // The commit a revision stands for in the cache: a commit hash with a snapshot folder is itself, a branch
  // or tag is what refs/{revision} holds. None when the cache does not know the revision.
  std::optional<std::string> cached_commit(const std::string& revision) const;
  // Records refs/{revision} (atomically; nothing for a revision that is the commit hash itself).
  Status write_ref(const std::string& revision, const std::string& commit) const;

  // True when the snapshot holds `filename` and its link leads to a blob.
  bool has_file(const std::string& commit, const std::string& filename) const;
  // Points snapshots/{commit}/{filename} at blobs/{etag}, replacing what was there atomically.
  Status link_file(const std::string& commit, const std::string& filename, const std::string& etag) const;
  // The files a snapshot holds (relative paths, '/'-separated, sorted), dangling links left out.
  std::vector<std::string> snapshot_files(const std::string& commit) const;

 private:
  std::string cache_dir_;
  std::string folder_;  // models--{org}--{name}
  std::string dir_;
};

}  // namespace autoglm::hub
