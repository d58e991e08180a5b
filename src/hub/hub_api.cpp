#include "hub/hub_api.h"

#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "hub/repo_spec.h"

namespace autoglm::hub {
namespace {

constexpr long kApiTimeoutS = 60;
constexpr int kMaxHubRedirects = 5;

// Percent-encoding of a URL path piece; '/' kept when `keep_slash`, as the hub expects in file names but not
// in revisions ("refs/pr/1" -> "refs%2Fpr%2F1").
std::string quote(const std::string& s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// "scheme://host:port" of an absolute URL, "" for anything else.
std::string origin(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return {};
  return url.substr(0, url.find('/', scheme_end + 3));
}

// Where a redirect within the hub leads: a path on the same origin ("/org/new-name/resolve/..."), or an
// absolute URL of the same origin. Empty for anything else: a CDN is not followed.
std::string same_origin_target(const std::string& from, const std::string& location) {
  if (location.size() > 1 && location[0] == '/' && location[1] != '/') return origin(from) + location;
  if (!origin(location).empty() && origin(location) == origin(from)) return location;
  return {};
}

// ETag: "abc" or W/"abc" -> abc (huggingface_hub's normalization, which names the blob).
std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

int64_t parse_size(const std::string& s) {
  if (s.empty()) return -1;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  return (end && *end == '\0' && v >= 0) ? v : -1;
}

// The hub's own explanation of an error: the X-Error-Message header, else the "error" field of a JSON body,
// else the start of the body; one line of at most 300 characters, control characters (a hostile server's
// terminal escapes) blanked.
std::string error_detail(const HttpResponse& r) {
  std::string text = r.header("x-error-message");
  if (text.empty()) {
    const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    text = j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>()
                                                                          : r.body;
  }
  text = text.substr(0, 300);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  while (!text.empty() && text.back() == ' ')
    text.pop_back();
  return text;
}

}  // namespace

HubApi::HubApi(const HubSettings& settings, HttpClient& http) : settings_(settings), http_(http) {
  if (!settings_.token.empty()) auth_headers_.push_back("Authorization: Bearer " + settings_.token);
}

std::string HubApi::resolve_url(const std::string& repo_id, const std::string& revision,
                                const std::string& filename) const {
  return settings_.endpoint + "/" + repo_id + "/resolve/" + quote(revision, false) + "/" +
         quote(filename, true);
}

Status HubApi::error_for(const HttpResponse& r, const std::string& repo_id, const std::string& revision,
                         const std::string& filename) const {
  const std::string code = r.header("x-error-code");
  const std::string detail = error_detail(r);
  const std::string status = "HTTP " + std::to_string(r.status) + (detail.empty() ? "" : ": " + detail);
  const std::string subject = filename.empty() ? repo_id : filename + " of " + repo_id;
  if (code == "RepoNotFound") {
    // Also a 401: to an anonymous caller the hub does not tell a missing repo from a private one.
    return not_found(
        "model " + repo_id + " not found on " + settings_.endpoint + " (" + status + ")" +
        (settings_.token.empty() ? "; if it is private, set HF_TOKEN to a token with access" : ""));
  }
  if (r.status == 401 || r.status == 403) {
    const std::string page = settings_.endpoint + "/" + repo_id;
    if (settings_.token.empty()) {
      return invalid_argument(subject + ": access denied (" + status +
                              "). The model is gated or private: set HF_TOKEN to a token of an account with "
                              "access (for a gated model, accept its conditions at " +
                              page + " first)");
    }
    return invalid_argument(
        subject + ": access denied with the given token (" + status +
        "). Check that HF_TOKEN holds a valid token of an account with access (for a gated "
        "model, accept its conditions at " +
        page + ")");
  }
  if (r.status == 404) {
    if (code == "EntryNotFound") return not_found(filename + " not found in " + repo_id + " at " + revision);
    if (code == "RevisionNotFound") return not_found("revision '" + revision + "' not found in " + repo_id);
    if (filename.empty()) {
      return not_found("model " + repo_id + " not found on " + settings_.endpoint + " (" + status + ")");
    }
  }
  return io_error(subject + ": " + status + " from " + url_without_query(r.url));
}

Expected<RepoRevision> HubApi::revision(const std::string& repo_id, const std::string& revision) {
  HttpRequest request;
  request.url = settings_.endpoint + "/api/models/" + repo_id + "/revision/" + quote(revision, false);
  request.headers = auth_headers_;
  request.timeout_s = kApiTimeoutS;
  AUTOGLM_ASSIGN_OR_RETURN(HttpResponse r, http_.fetch(request));
  if (r.status != 200) return error_for(r, repo_id, revision, "");

  const std::string where = url_without_query(request.url);
  const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object()) return parse_error(where + ": the hub's answer is not a JSON object");
  RepoRevision out;
  if (j.contains("sha") && j["sha"].is_string()) out.commit = j["sha"].get<std::string>();
  if (!is_safe_file_name(out.commit))
    return parse_error(where + ": the hub's answer has no commit hash (sha)");
  if (!j.contains("siblings") || !j["siblings"].is_array()) {
    return parse_error(where + ": the hub's answer has no file list (siblings)");
  }
  for (const auto& s : j["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
    std::string name = s["rfilename"].get<std::string>();
    if (is_safe_relative_path(name)) out.files.push_back(std::move(name));
  }
  return out;
}

Expected<FileMetadata> HubApi::file_metadata(const std::string& repo_id, const std::string& revision,
                                             const std::string& filename) {
  HttpRequest request;
  request.url = resolve_url(repo_id, revision, filename);
  request.headers = auth_headers_;
  request.head = true;
  request.follow_redirects = false;
  request.timeout_s = kApiTimeoutS;
  HttpResponse r;
  for (int hop = 0;; ++hop) {
    AUTOGLM_ASSIGN_OR_RETURN(r, http_.fetch(request));
    if (r.status < 300 || r.status >= 400 || hop == kMaxHubRedirects) break;
    const std::string next = same_origin_target(request.url, r.header("location"));
    if (next.empty()) break;
    request.url = next;
  }
  if (r.status >= 400 || r.status < 200) return error_for(r, repo_id, revision, filename);

  FileMetadata m;
  m.etag = normalize_etag(r.header("x-linked-etag"));
  if (m.etag.empty()) m.etag = normalize_etag(r.header("etag"));
  if (!is_safe_file_name(m.etag)) {
    return parse_error(filename + " of " + repo_id + ": the hub's answer from " +
                       url_without_query(request.url) + " has no usable ETag");
  }
  m.size = parse_size(r.header("x-linked-size"));
  if (m.size < 0 && r.status < 300) m.size = parse_size(r.header("content-length"));
  return m;
}

}  // namespace autoglm::hub
