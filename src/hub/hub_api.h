// The hub's HTTP API as a downloader uses it:
//   GET  {endpoint}/api/models/{repo}/revision/{revision}  -> {"sha": commit, "siblings": [{"rfilename"}...]}
//   HEAD {endpoint}/{repo}/resolve/{revision}/{file}       -> X-Repo-Commit, ETag, and for LFS files a
//        redirect to the CDN carrying X-Linked-Etag (the SHA-256) and X-Linked-Size
// and the errors it answers with (X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/http_client.h"
#include "hub/hub_settings.h"

namespace autoglm::hub {

struct RepoRevision {
  std::string commit;
  std::vector<std::string> files;  // relative paths; names that would leave the snapshot folder are dropped
};

struct FileMetadata {
  std::string etag;   // without quotes: the SHA-256 of an LFS file, the git blob hash of a small one
  int64_t size = -1;  // -1: unknown
};

class HubApi {
 public:
  HubApi(const HubSettings& settings, HttpClient& http);

  Expected<RepoRevision> revision(const std::string& repo_id, const std::string& revision);
  // Asks without following the redirect to the CDN: the hub's own answer carries the metadata. Redirects
  // within the hub (a renamed repo) are followed.
  Expected<FileMetadata> file_metadata(const std::string& repo_id, const std::string& revision,
                                       const std::string& filename);

  std::string resolve_url(const std::string& repo_id, const std::string& revision,
                          const std::string& filename) const;
  // The token as an Authorization header (none without a token). Never put into a message.
  const std::vector<std::string>& auth_headers() const { return auth_headers_; }
  // The Status for a non-2xx answer about the repo (`filename` empty) or one of its files.
  Status error_for(const HttpResponse& response, const std::string& repo_id, const std::string& revision,
                   const std::string& filename) const;

 private:
  const HubSettings& settings_;
  HttpClient& http_;
  std::vector<std::string> auth_headers_;
};

}  // namespace autoglm::hub
