#include "hub/hub_cache.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "hub/repo_spec.h"

namespace autoglm::hub {
namespace {

namespace fs = std::filesystem;

// A name for a temporary file beside `path` that no other process or thread picks at the same time.
std::string temp_name(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter++);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

}  // namespace

RepoCache::RepoCache(const std::string& cache_dir, const std::string& repo_id)
    : cache_dir_(cache_dir), folder_("models--") {
  for (char c : repo_id)
    folder_ += c == '/' ? std::string("--") : std::string(1, c);
  dir_ = cache_dir_ + "/" + folder_;
}

std::string RepoCache::blob_path(const std::string& etag) const {
  return dir_ + "/blobs/" + etag;
}

std::string RepoCache::lock_path(const std::string& etag) const {
  return cache_dir_ + "/.locks/" + folder_ + "/" + etag + ".lock";
}

std::string RepoCache::snapshot_dir(const std::string& commit) const {
  return dir_ + "/snapshots/" + commit;
}

std::string RepoCache::snapshot_path(const std::string& commit, const std::string& filename) const {
  return snapshot_dir(commit) + "/" + filename;
}

std::optional<std::string> RepoCache::cached_commit(const std::string& revision) const {
  std::error_code ec;
  if (is_commit_hash(revision) && fs::is_directory(snapshot_dir(revision), ec)) return revision;
  if (!is_safe_relative_path(revision)) return std::nullopt;
  std::ifstream f(dir_ + "/refs/" + revision);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  // huggingface_hub writes the hash without a newline; a hand-edited ref may have one.
  const std::string commit = trim(ss.str());
  if (!is_safe_file_name(commit) || !fs::is_directory(snapshot_dir(commit), ec)) return std::nullopt;
  return commit;
}

Status RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return Status::ok();
  if (!is_safe_relative_path(revision))
    return invalid_argument("revision '" + revision + "' is not a valid ref");
  const std::string path = dir_ + "/refs/" + revision;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = temp_name(path);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << commit;
    if (!f.flush()) return io_error("cannot write " + tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return io_error("cannot write " + path);
  }
  return Status::ok();
}

bool RepoCache::has_file(const std::string& commit, const std::string& filename) const {
  std::error_code ec;
  return fs::is_regular_file(snapshot_path(commit, filename), ec);  // follows the link to the blob
}

Status RepoCache::link_file(const std::string& commit, const std::string& filename,
                            const std::string& etag) const {
  const fs::path link = snapshot_path(commit, filename);
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  if (ec) return io_error("cannot create " + link.parent_path().string() + ": " + ec.message());
  // Relative, so the cache still works once moved: snapshots/{commit}/a/b.bin -> ../../../blobs/{etag}.
  std::string target = "../../";
  for (char c : filename) {
    if (c == '/') target += "../";
  }
  target += "blobs/" + etag;
  const std::string tmp = temp_name(link.string());
  fs::create_symlink(target, tmp, ec);
  if (ec) return io_error("cannot create the link " + tmp + ": " + ec.message());
  fs::rename(tmp, link, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return io_error("cannot create the link " + link.string() + ": " + ec.message());
  }
  return Status::ok();
}

std::vector<std::string> RepoCache::snapshot_files(const std::string& commit) const {
  std::vector<std::string> files;
  const fs::path root = snapshot_dir(commit);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) files.push_back(it->path().lexically_relative(root).generic_string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace autoglm::hub
