// An HTTP/1.1 server on Boost.Beast/Asio: one acceptor, connections served asynchronously by a few I/O
// threads (no thread per connection), keep-alive, request bodies bounded before they are read, a timeout on
// idle and slow clients, and a stop that lets the application drain its in-flight requests first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "autoglm/status.h"
#include "http/http_types.h"

namespace autoglm::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see HttpServer::port)
  int io_threads = 1;
  size_t max_body_bytes = size_t{8} << 20;  // larger bodies get 413 without being read
  size_t max_header_bytes = size_t{64} << 10;
  int header_timeout_s = 30;  // to receive a whole request once its first byte arrived
  int idle_timeout_s = 120;   // keep-alive connections with no request
  int write_timeout_s = 60;   // a client that reads nothing of its response for this long is dropped
};

class HttpServer {
 public:
  // Binds and listens; accepting starts with run().
  static Status create(const HttpServerOptions& options, HttpHandler handler,
                       std::unique_ptr<HttpServer>* out);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // Serves on the calling thread plus io_threads - 1 more, until stop().
  void run();
  // Closes the listening socket (thread-safe): new connections are refused, open ones go on.
  void stop_accepting();
  // Ends run(): every connection is closed (thread-safe).
  void stop();
  int64_t open_connections() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace autoglm::server
