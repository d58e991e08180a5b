// A small HTTP client over libcurl: requests with a few headers, small bodies to memory, large ones streamed.
//
// Authorization on redirects: the hub answers downloads of large files with a redirect to a CDN on another
// host. The token travels as an "Authorization:" header and libcurl (7.58 and later; port and scheme too
// since 7.83.1) sends such a header only to the host of the original URL, never to a redirect target on
// another host, scheme or port: the token never reaches the CDN. CURLOPT_UNRESTRICTED_AUTH, which would
// lift that, stays off. tests/hub checks it against a mock whose CDN lives on another host name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace autoglm::hub {

struct HttpResponse {
  long status = 0;
  std::string url;                             // the URL that answered, after the redirects followed
  std::map<std::string, std::string> headers;  // of that last answer, names in lower case
  std::string body;  // without a sink: the whole body; with one: the start of a non-2xx body

  // The header's value, "" when absent; `name` in lower case.
  std::string header(const std::string& name) const;
};

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool head = false;
  bool follow_redirects = true;
  int64_t range_start = 0;  // > 0: asks for the bytes from there on ("Range: bytes=N-")
  long timeout_s = 0;       // the whole request; 0: none (a stall of 30 s still ends a transfer)
};

// Receives a 2xx body as it arrives. A non-OK Status stops the transfer and is what fetch returns.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Once per fetch, with the final answer's status and headers, before any data (also for an empty body).
  virtual Status begin(const HttpResponse& response) = 0;
  virtual Status write(const char* data, size_t size) = 0;
};

// One connection cache: consecutive requests to a host reuse the connection (and its TLS session).
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP status, 4xx and 5xx included, is a response. Errors are transfers without a complete answer:
  // kIoError when another attempt may succeed (no connection, connection reset or cut mid-body, timeout);
  // kInvalidArgument when it cannot (a malformed URL, a scheme other than http and https, a redirect loop, a
  // certificate that fails verification); kResourceExhausted for an in-memory body over 64 MiB; or the
  // sink's own Status.
  Expected<HttpResponse> fetch(const HttpRequest& request, BodySink* sink = nullptr);

 private:
  void* curl_;
};

// The URL without its query: signed CDN URLs carry credentials there, which error messages must not show.
std::string url_without_query(const std::string& url);

}  // namespace autoglm::hub
