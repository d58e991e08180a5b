#include "http/http_server.h"

#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "http/http_connection.h"

namespace autoglm::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

const std::string& HttpRequest::header(const std::string& lower_name) const {
  static const std::string kEmpty;
  for (const auto& [name, value] : headers)
    if (name == lower_name) return value;
  return kEmpty;
}

struct HttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::shared_ptr<ConnectionShared> shared = std::make_shared<ConnectionShared>();
  uint16_t port = 0;

  void accept() {
    // Each connection runs on its own strand, so its handlers never run concurrently on two I/O threads.
    acceptor.async_accept(asio::make_strand(io), [this](boost::system::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (!ec) {
        start_connection(std::move(socket), shared);
      }
      // Errors such as too many open files: keep accepting (the next attempt may succeed).
      accept();
    });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

Status HttpServer::create(const HttpServerOptions& options, HttpHandler handler,
                          std::unique_ptr<HttpServer>* out) {
  if (options.io_threads < 1) return invalid_argument("io_threads must be >= 1");
  auto impl = std::make_unique<Impl>();
  impl->shared->options = options;
  impl->shared->handler = std::move(handler);
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (ec) return invalid_argument("--host " + options.host + ": not an IP address (" + ec.message() + ")");
  const tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return io_error("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                    ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  out->reset(new HttpServer(std::move(impl)));
  return Status::ok();
}

uint16_t HttpServer::port() const {
  return impl_->port;
}

void HttpServer::run() {
  impl_->accept();
  std::vector<std::thread> extra;
  for (int i = 1; i < impl_->shared->options.io_threads; ++i)
    extra.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  for (std::thread& t : extra)
    t.join();
}

void HttpServer::stop_accepting() {
  asio::post(impl_->io, [this] {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
  });
}

void HttpServer::stop() {
  impl_->io.stop();
}

int64_t HttpServer::open_connections() const {
  return impl_->shared->open.load();
}

}  // namespace autoglm::server
