#include "http/http_connection.h"

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/api_error.h"

namespace autoglm::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string status_line(int status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return fmt::format("HTTP/1.1 {} {}\r\n", status, std::string_view(reason.data(), reason.size()));
}

std::string header_block(int status, const std::string& content_type, const HeaderList& extra,
                         bool keep_alive) {
  std::string h = status_line(status);
  h += "Server: autoglm\r\n";
  if (!content_type.empty()) h += "Content-Type: " + content_type + "\r\n";
  for (const auto& [name, value] : extra)
    h += name + ": " + value + "\r\n";
  h += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  return h;
}

class Connection;

class Writer final : public ResponseWriter {
 public:
  explicit Writer(std::shared_ptr<Connection> c) : connection_(std::move(c)) {}
  void respond(int status, std::string content_type, std::string body, HeaderList extra) override;
  void start_stream(int status, std::string content_type, HeaderList extra) override;
  void write(std::string data) override;
  void end() override;
  void on_disconnect(std::function<void()> fn) override;
  void post(std::function<void()> fn) override;

 private:
  std::shared_ptr<Connection> connection_;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<ConnectionShared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {
    ++shared_->open;
    // Streamed tokens are small writes that must leave at once: without this, Nagle's algorithm holds a chunk
    // until the client's delayed ACK (about 40 ms on Linux).
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }
  ~Connection() { --shared_->open; }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(); });
  }

  // Called on the strand (through Writer).
  void respond(int status, const std::string& content_type, const std::string& body,
               const HeaderList& extra) {
    if (closed_ || phase_ != Phase::kHandling) return;
    std::string out = header_block(status, content_type, extra, keep_alive_);
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    if (!head_request_) out += body;  // HEAD: the headers GET would have, no body
    phase_ = Phase::kFinishing;
    enqueue(std::move(out));
  }
  void start_stream(int status, const std::string& content_type, const HeaderList& extra) {
    if (closed_ || phase_ != Phase::kHandling) return;
    // HTTP/1.0 has no chunked encoding: the body then ends when the connection closes.
    if (http10_) keep_alive_ = false;
    std::string out = header_block(status, content_type, extra, keep_alive_);
    out += http10_ ? "Cache-Control: no-cache\r\n\r\n"
                   : "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n";
    phase_ = Phase::kStreaming;
    enqueue(std::move(out));
  }
  void write_chunk(const std::string& data) {
    if (closed_ || phase_ != Phase::kStreaming || data.empty() || head_request_) return;
    enqueue(http10_ ? data : fmt::format("{:x}\r\n", data.size()) + data + "\r\n");
  }
  void end_stream() {
    if (closed_ || phase_ != Phase::kStreaming) return;
    phase_ = Phase::kFinishing;
    enqueue(http10_ || head_request_ ? "" : "0\r\n\r\n");
  }
  void set_disconnect_handler(std::function<void()> fn) {
    if (closed_) {
      if (fn) fn();
      return;
    }
    on_disconnect_ = std::move(fn);
  }
  auto executor() { return stream_.get_executor(); }

 private:
  enum class Phase { kReading, kHandling, kStreaming, kFinishing };

  void read_request() {
    phase_ = Phase::kReading;
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(shared_->options.max_header_bytes));
    stream_.expires_after(std::chrono::seconds(buffer_.size() > 0 ? shared_->options.header_timeout_s
                                                                  : shared_->options.idle_timeout_s));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec) {
      // Malformed or oversized: answer once, then close (the rest of the stream cannot be trusted).
      keep_alive_ = false;
      phase_ = Phase::kHandling;
      const ApiError error = ec == http::error::body_limit
                                 ? payload_too_large(shared_->options.max_body_bytes)
                                 : invalid_request("Malformed HTTP request: " + ec.message());
      const int status = ec == http::error::header_limit ? 431 : error.http_status;
      respond(status, "application/json", error.body(), {});
      return;
    }
    http::request<http::string_body> message = parser_->release();
    keep_alive_ = message.keep_alive();
    http10_ = message.version() < 11;
    head_request_ = message.method() == http::verb::head;
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.path = request.target.substr(0, request.target.find('?'));
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request.body = std::move(message.body());
    beast::error_code peer_ec;
    const auto peer = stream_.socket().remote_endpoint(peer_ec);
    if (!peer_ec) request.remote = peer.address().to_string();

    phase_ = Phase::kHandling;
    stream_.expires_never();
    watch_for_disconnect();
    auto writer = std::make_shared<Writer>(shared_from_this());
    try {
      shared_->handler(std::move(request), writer);
    } catch (const std::exception& e) {
      respond(500, "application/json", internal_error(e.what()).body(), {});
    }
  }

  // A readable socket while a response is pending means the client closed it (or pipelined a request, which
  // waits in the socket until this response ends).
  void watch_for_disconnect() {
    if (watching_) return;
    watching_ = true;
    stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->watching_ = false;
      if (ec || self->closed_ || self->phase_ == Phase::kReading) return;
      char byte;
      beast::error_code peek_ec;
      const size_t n =
          self->stream_.socket().receive(asio::buffer(&byte, 1), tcp::socket::message_peek, peek_ec);
      if (n == 0 || (peek_ec && peek_ec != asio::error::would_block)) self->close();
    });
  }

  void enqueue(std::string bytes) {
    queue_.push_back(std::move(bytes));
    if (!writing_) write_next();
  }

  void write_next() {
    if (queue_.empty() || closed_) {
      writing_ = false;
      if (!closed_ && phase_ == Phase::kFinishing) finish_response();
      return;
    }
    writing_ = true;
    // Everything queued goes out in one write.
    current_.clear();
    while (!queue_.empty()) {
      current_ += queue_.front();
      queue_.pop_front();
    }
    stream_.expires_after(std::chrono::seconds(shared_->options.write_timeout_s));
    asio::async_write(stream_, asio::buffer(current_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->close();
                        // No deadline while the response waits on the engine (a long prompt, a long queue).
                        self->stream_.expires_never();
                        self->write_next();
                      });
  }

  void finish_response() {
    on_disconnect_ = nullptr;
    if (!keep_alive_) {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return linger();
    }
    read_request();
  }

  // After the last response, read and drop what the client still sends (the rest of a body refused with 413)
  // before closing: closing with unread data would reset the connection, and the client could lose the
  // response before reading it. Bounded in time and bytes.
  void linger() {
    stream_.expires_after(std::chrono::seconds(2));
    drain_buffer_.resize(64 << 10);
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->lingered_bytes_ += n;
                              if (ec || self->lingered_bytes_ > (size_t{256} << 20)) return self->close();
                              self->linger();
                            });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    stream_.close();
    if (auto fn = std::move(on_disconnect_)) {
      on_disconnect_ = nullptr;
      if (phase_ != Phase::kReading) fn();
    }
  }

  beast::tcp_stream stream_;
  std::shared_ptr<ConnectionShared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kReading;
  bool keep_alive_ = true;
  bool http10_ = false;        // the current request's version
  bool head_request_ = false;  // the current request is HEAD: headers only
  bool closed_ = false;
  bool writing_ = false;
  bool watching_ = false;
  std::deque<std::string> queue_;
  std::string current_;
  std::vector<char> drain_buffer_;
  size_t lingered_bytes_ = 0;
  std::function<void()> on_disconnect_;
};

void Writer::respond(int status, std::string content_type, std::string body, HeaderList extra) {
  asio::post(connection_->executor(),
             [c = connection_, status, t = std::move(content_type), b = std::move(body),
              e = std::move(extra)] { c->respond(status, t, b, e); });
}
void Writer::start_stream(int status, std::string content_type, HeaderList extra) {
  asio::post(connection_->executor(), [c = connection_, status, t = std::move(content_type),
                                       e = std::move(extra)] { c->start_stream(status, t, e); });
}
void Writer::write(std::string data) {
  asio::post(connection_->executor(), [c = connection_, d = std::move(data)] { c->write_chunk(d); });
}
void Writer::end() {
  asio::post(connection_->executor(), [c = connection_] { c->end_stream(); });
}
void Writer::on_disconnect(std::function<void()> fn) {
  asio::post(connection_->executor(),
             [c = connection_, f = std::move(fn)]() mutable { c->set_disconnect_handler(std::move(f)); });
}
void Writer::post(std::function<void()> fn) {
  asio::post(connection_->executor(), std::move(fn));
}

}  // namespace

void start_connection(tcp::socket socket, std::shared_ptr<ConnectionShared> shared) {
  std::make_shared<Connection>(std::move(socket), std::move(shared))->start();
}

}  // namespace autoglm::server
