#include "hub/hf_hub.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/log.h"
#include "hub/blob_download.h"
#include "hub/file_lock.h"
#include "hub/hub_api.h"
#include "hub/hub_cache.h"
#include "hub/hub_settings.h"
#include "hub/model_files.h"
#include "hub/repo_spec.h"

namespace autoglm {
namespace hub {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIndexFile = "model.safetensors.index.json";

bool is_sha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

Expected<std::string> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Fills one snapshot of one repo.
class SnapshotDownloader {
 public:
  SnapshotDownloader(const HubSettings& settings, HttpClient& http, HubApi& api, const RepoCache& cache,
                     std::string repo_id, std::string commit)
      : settings_(settings),
        http_(http),
        api_(api),
        cache_(cache),
        repo_id_(std::move(repo_id)),
        commit_(std::move(commit)) {}

  // Makes snapshots/{commit}/{filename} present: nothing to do when it is; else the blob, downloaded unless
  // another revision brought the same content already, and the link to it.
  Status fetch(const std::string& filename) {
    if (cache_.has_file(commit_, filename)) return Status::ok();
    AUTOGLM_ASSIGN_OR_RETURN(FileMetadata meta, api_.file_metadata(repo_id_, commit_, filename));
    const std::string blob = cache_.blob_path(meta.etag);
    {
      AUTOGLM_ASSIGN_OR_RETURN(FileLock lock, FileLock::acquire(cache_.lock_path(meta.etag)));
      std::error_code ec;
      if (!fs::is_regular_file(blob, ec)) {
        fs::create_directories(fs::path(blob).parent_path(), ec);
        BlobDownload d;
        d.url = api_.resolve_url(repo_id_, commit_, filename);
        d.headers = api_.auth_headers();
        d.blob_path = blob;
        d.display_name = filename;
        // An LFS file's ETag is its SHA-256; a small git file's is its git blob hash, not checked.
        if (is_sha256(meta.etag)) d.expected_sha256 = meta.etag;
        d.expected_size = meta.size;
        d.progress = settings_.progress;
        d.http_error = [this, &filename](const HttpResponse& r) {
          return api_.error_for(r, repo_id_, commit_, filename);
        };
        AUTOGLM_RETURN_IF_ERROR(download_blob(http_, d));
      }
    }
    return cache_.link_file(commit_, filename, meta.etag);
  }

  Status fetch_all(const std::vector<std::string>& files) {
    for (const auto& f : files)
      AUTOGLM_RETURN_IF_ERROR(fetch(f));
    return Status::ok();
  }

 private:
  const HubSettings& settings_;
  HttpClient& http_;
  HubApi& api_;
  const RepoCache& cache_;
  std::string repo_id_;
  std::string commit_;
};

// The files of a whole model, given the repo's file list; `read_index` reads model.safetensors.index.json
// once it is present (the weights depend on it).
template <typename FetchFn, typename IndexFn>
Status for_model_files(const std::vector<std::string>& files, const std::string& repo_id, FetchFn fetch,
                       IndexFn read_index) {
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<std::string> metadata, model_metadata_files(files, repo_id));
  if (!contains(metadata, kIndexFile)) {
    // Checked before anything is fetched, so a repo without weights fails at once.
    AUTOGLM_RETURN_IF_ERROR(model_weight_files(files, "", repo_id).status());
  }
  AUTOGLM_RETURN_IF_ERROR(fetch(metadata));
  std::string index;
  if (contains(metadata, kIndexFile)) {
    AUTOGLM_ASSIGN_OR_RETURN(index, read_index());
  }
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<std::string> weights, model_weight_files(files, index, repo_id));
  return fetch(weights);
}

// What the cache alone gives for the spec: the same files an online download would have fetched, all
// present in the snapshot the revision points at.
Expected<std::string> resolve_from_cache(const RepoCache& cache, const RepoSpec& spec,
                                         const std::string& revision) {
  const std::optional<std::string> commit = cache.cached_commit(revision);
  if (!commit) {
    return not_found(spec.repo_id + " at revision '" + revision + "' is not in the cache (" + cache.dir() +
                     "): download it once online");
  }
  const std::vector<std::string> files = cache.snapshot_files(*commit);
  const std::string where = "the cached snapshot " + cache.snapshot_dir(*commit);
  if (!spec.file_pattern.empty()) {
    Expected<std::vector<std::string>> matches = match_file_pattern(files, spec.file_pattern, spec.repo_id);
    if (!matches) return matches.status().with_context(where);
    return cache.snapshot_path(*commit, matches->front());
  }
  auto present = [](const std::vector<std::string>&) { return Status::ok(); };
  auto index = [&] { return read_text(cache.snapshot_path(*commit, kIndexFile)); };
  AUTOGLM_RETURN_IF_ERROR(for_model_files(files, spec.repo_id, present, index).with_context(where));
  return cache.snapshot_dir(*commit);
}

}  // namespace
}  // namespace hub

Expected<std::string> download_hf_model(const std::string& spec, const HubOptions& options) {
  using namespace hub;
  AUTOGLM_ASSIGN_OR_RETURN(const RepoSpec parsed, parse_repo_spec(spec));
  const HubSettings settings = resolve_hub_settings(options);
  const RepoCache cache(settings.cache_dir, parsed.repo_id);
  if (settings.offline) {
    Expected<std::string> cached = resolve_from_cache(cache, parsed, settings.revision);
    if (!cached) return cached.status().with_context("offline mode");
    return cached;
  }

  HttpClient http;
  HubApi api(settings, http);
  Expected<RepoRevision> revision = api.revision(parsed.repo_id, settings.revision);
  if (!revision) {
    // No network or a failing hub: what the cache holds still serves, as huggingface_hub does.
    if (revision.status().code() == StatusCode::kIoError) {
      Expected<std::string> cached = resolve_from_cache(cache, parsed, settings.revision);
      if (cached) {
        log_warn(revision.status().message() + "; using the cached " + *cached);
        return cached;
      }
    }
    return revision.status();
  }

  const std::string& commit = revision->commit;
  SnapshotDownloader downloader(settings, http, api, cache, parsed.repo_id, commit);
  std::string result;
  if (!parsed.file_pattern.empty()) {
    AUTOGLM_ASSIGN_OR_RETURN(std::vector<std::string> files,
                             match_file_pattern(revision->files, parsed.file_pattern, parsed.repo_id));
    AUTOGLM_RETURN_IF_ERROR(downloader.fetch_all(files));
    result = cache.snapshot_path(commit, files.front());
  } else {
    auto fetch = [&](const std::vector<std::string>& files) { return downloader.fetch_all(files); };
    auto index = [&] { return read_text(cache.snapshot_path(commit, kIndexFile)); };
    AUTOGLM_RETURN_IF_ERROR(for_model_files(revision->files, parsed.repo_id, fetch, index));
    result = cache.snapshot_dir(commit);
  }
  // Last, so that the ref never points at a snapshot that lacks files.
  AUTOGLM_RETURN_IF_ERROR(cache.write_ref(settings.revision, commit));
  return result;
}

}  // namespace autoglm
