// A server on an ephemeral loopback port with its io_context on a thread, and a
// raw HTTP connection for sending what no well-behaved client would.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rpc/dispatcher.hpp"
#include "rpc/server.hpp"

namespace cityledger::rpc::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = beast::error_code;

// A safety net so a broken server fails a test instead of hanging it; tests
// never assert on how long anything took.
inline constexpr std::chrono::seconds raw_io_timeout{60};

class TestServer {
 public:
  using Setup = std::function<void(Dispatcher&, Server&)>;

  explicit TestServer(ServerConfig config = {}, const Setup& setup = {}, int io_threads = 1)
      : dispatcher_(std::make_shared<Dispatcher>()) {
    dispatcher_->add(
        {"echo", "returns value", {{"value", nlohmann::json::object(), false}}},
        [](const nlohmann::json& p) -> MethodResult { return p.value("value", nlohmann::json()); });
    dispatcher_->add({"fail", "always not_found"}, [](const nlohmann::json&) -> MethodResult {
      return Status(ErrorCode::not_found, "block 12 does not exist");
    });
    server_ = std::make_unique<Server>(io_, dispatcher_, std::move(config));
    if (setup) setup(*dispatcher_, *server_);
    auto started = server_->start();
    EXPECT_TRUE(started.ok()) << started.to_string();
    for (int i = 0; i < io_threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  ~TestServer() {
    server_->stop();
    // A clean stop leaves the io_context without work: run() returns by itself.
    for (auto& thread : threads_) thread.join();
  }

  Server& server() { return *server_; }
  Dispatcher& dispatcher() { return *dispatcher_; }
  std::uint16_t port() const { return server_->port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

 private:
  net::io_context io_;
  std::shared_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
};

// One TCP connection driven step by step from the test thread.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : stream_(io_) {
    stream_.expires_after(raw_io_timeout);
    connect_error_ = run([&](auto handler) {
      stream_.async_connect(tcp::endpoint(net::ip::address_v4::loopback(), port), handler);
    });
  }

  error_code connect_error() const { return connect_error_; }

  error_code send(std::string_view data) {
    stream_.expires_after(raw_io_timeout);
    return run(
        [&](auto handler) { net::async_write(stream_, net::buffer(data.data(), data.size()), handler); });
  }

  // The next response, or nullopt when the connection ended first.
  std::optional<http::response<http::string_body>> read_response() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    stream_.expires_after(raw_io_timeout);
    last_error_ = run([&](auto handler) { http::async_read(stream_, buffer_, parser, handler); });
    if (last_error_) return std::nullopt;
    return parser.release();
  }

  // True when the server closed the connection (end of stream or reset).
  bool closed_by_server() {
    char byte = 0;
    stream_.expires_after(raw_io_timeout);
    std::size_t size = 0;
    last_error_ = run([&](auto handler) { stream_.async_read_some(net::buffer(&byte, 1), handler); }, &size);
    return last_error_ == net::error::eof || last_error_ == net::error::connection_reset;
  }

  error_code last_error() const { return last_error_; }

  void close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  template <typename Start>
  error_code run(Start start, std::size_t* size_out = nullptr) {
    error_code result = net::error::would_block;
    start([&result, size_out](error_code ec, std::size_t size = 0) {
      result = ec;
      if (size_out != nullptr) *size_out = size;
    });
    io_.restart();
    io_.run();
    return result;
  }

  net::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  error_code connect_error_;
  error_code last_error_;
};

inline std::string http_post(std::string_view body, std::string_view content_type = "application/json") {
  return "POST / HTTP/1.1\r\nHost: test\r\nContent-Type: " + std::string(content_type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

inline std::string http_get(std::string_view target) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

}  // namespace cityledger::rpc::testing
