#include "hub/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace autoglm::hub {
namespace {

constexpr size_t kMaxMemoryBody = size_t{64} << 20;  // API answers: the file list of a large repo is < 1 MiB
constexpr size_t kMaxErrorBody = size_t{16} << 10;   // enough for the hub's JSON error
constexpr long kStreamBufferBytes = 512L << 10;
constexpr long kConnectTimeoutS = 15;
constexpr long kStallTimeoutS = 30;  // a transfer slower than 1 byte/s for this long is dropped (and retried)

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
    --e;
  return s.substr(b, e - b);
}

struct Transfer {
  CURL* curl = nullptr;
  BodySink* sink = nullptr;
  HttpResponse response;
  bool began = false;
  bool body_to_sink = false;
  bool body_too_large = false;
  Status sink_status;
};

// Called for every header line of every answer, redirects included: an answer's status line starts afresh.
size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * count);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    t->response.headers.clear();
    const size_t space = line.find(' ');
    t->response.status = space == std::string::npos ? 0 : std::strtol(line.c_str() + space + 1, nullptr, 10);
  } else if (const size_t colon = line.find(':'); colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    t->response.headers[name] = trim(line.substr(colon + 1));
  }
  return size * count;
}

// The answer is final once its body starts: libcurl does not deliver the bodies of redirects it follows.
void begin_body(Transfer* t) {
  t->began = true;
  char* url = nullptr;
  curl_easy_getinfo(t->curl, CURLINFO_EFFECTIVE_URL, &url);
  if (url) t->response.url = url;
  t->body_to_sink = t->sink != nullptr && t->response.status >= 200 && t->response.status < 300;
  if (t->body_to_sink) t->sink_status = t->sink->begin(t->response);
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (!t->began) {
    begin_body(t);
    if (!t->sink_status.is_ok()) return 0;
  }
  if (t->body_to_sink) {
    t->sink_status = t->sink->write(data, bytes);
    return t->sink_status.is_ok() ? bytes : 0;
  }
  const size_t cap = t->sink ? kMaxErrorBody : kMaxMemoryBody;
  if (t->response.body.size() + bytes > cap) {
    if (!t->sink) {
      t->body_too_large = true;
      return 0;
    }
    t->response.body.append(data, cap - t->response.body.size());  // an error body: its start is enough
    return bytes;
  }
  t->response.body.append(data, bytes);
  return bytes;
}

bool is_transient(CURLcode code) {
  switch (code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_NOT_BUILT_IN:
      return false;
    default:
      return true;
  }
}

void set_allowed_protocols(CURL* curl) {
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85 replaced the bitmask options by these
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string url_without_query(const std::string& url) {
  return url.substr(0, url.find('?'));
}

HttpClient::HttpClient() {
  global_init();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Expected<HttpResponse> HttpClient::fetch(const HttpRequest& request, BodySink* sink) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return resource_exhausted("cannot create a libcurl handle");
  // reset clears the options but keeps the connection cache.
  curl_easy_reset(curl);
  Transfer t;
  t.curl = curl;
  t.sink = sink;
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* list = nullptr;
  for (const std::string& h : request.headers) {
    curl_slist* next = curl_slist_append(list, h.c_str());
    if (next == nullptr) {
      curl_slist_free_all(list);
      return resource_exhausted("cannot build the request headers");
    }
    list = next;
  }
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(list, &curl_slist_free_all);
  const std::string user_agent =
      std::string("autoglm libcurl/") + curl_version_info(CURLVERSION_NOW)->version;
  const std::string range = std::to_string(request.range_start) + "-";

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  set_allowed_protocols(curl);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutS);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, kStallTimeoutS);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, request.timeout_s);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  if (request.head) curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (request.range_start > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  // Larger reads than the 16 KiB default: fewer callbacks, writes and hash updates on a fast link.
  if (sink != nullptr) curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, kStreamBufferBytes);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);

  const CURLcode rc = curl_easy_perform(curl);
  const std::string what = std::string(request.head ? "HEAD " : "GET ") + url_without_query(request.url);
  if (!t.sink_status.is_ok()) return t.sink_status;
  if (t.body_too_large) return resource_exhausted(what + ": the answer is larger than 64 MiB");
  if (rc != CURLE_OK) {
    std::string message = what + ": " + curl_easy_strerror(rc);
    if (error[0] != '\0') message += std::string(" (") + error + ")";
    return is_transient(rc) ? io_error(message) : invalid_argument(message);
  }
  if (!t.began) {  // no body at all: a HEAD, a redirect not followed, an empty file
    begin_body(&t);
    if (!t.sink_status.is_ok()) return t.sink_status;
  }
  return std::move(t.response);
}

}  // namespace autoglm::hub
