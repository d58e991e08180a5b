// What the HTTP layer hands to the application: a parsed request, and a writer for its response that may be
// used from any thread (the engine's, the I/O threads') and outlives neither the connection nor itself.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace autoglm::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // target without the query
  HeaderList headers;  // names lower-cased, in order
  std::string body;
  std::string remote;  // peer address

  // First value of a header (name in lower case), "" when absent.
  const std::string& header(const std::string& lower_name) const;
};

// The response to one request. Either respond() once, or start_stream(), write()..., end(). Every method is
// thread-safe and returns at once: the work is queued on the connection's executor. After the client went
// away the calls do nothing.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void respond(int status, std::string content_type, std::string body, HeaderList extra = {}) = 0;
  // Chunked transfer encoding; no Content-Length.
  virtual void start_stream(int status, std::string content_type, HeaderList extra = {}) = 0;
  virtual void write(std::string data) = 0;
  virtual void end() = 0;
  // fn runs once, on the connection's executor, if the client disconnects before the response ended.
  virtual void on_disconnect(std::function<void()> fn) = 0;
  // Runs fn on the connection's executor (in order with the writes queued by this thread).
  virtual void post(std::function<void()> fn) = 0;
};

using HttpHandler = std::function<void(HttpRequest request, std::shared_ptr<ResponseWriter> writer)>;

}  // namespace autoglm::server
