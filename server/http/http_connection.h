// One client connection: reads a request (bounded), hands it to the handler with a ResponseWriter, writes the
// response from a queue, then reads the next one (keep-alive) or closes. While a response is pending the
// socket is watched for the client going away, which is reported through the writer's on_disconnect.
#pragma once

#include <atomic>
#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "http/http_server.h"

namespace autoglm::server {

struct ConnectionShared {
  HttpServerOptions options;
  HttpHandler handler;
  std::atomic<int64_t> open{0};
};

void start_connection(boost::asio::ip::tcp::socket socket, std::shared_ptr<ConnectionShared> shared);

}  // namespace autoglm::server
