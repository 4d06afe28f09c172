// The client library: URLs, transport failures, and replies that are not
// JSON-RPC. Mapping of JSON-RPC errors is in server_test.cpp.
#include "rpc/client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <optional>
#include <thread>

namespace cityledger::rpc {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

TEST(Client, ParsesUrls) {
  auto plain = parse_url("http://127.0.0.1:8545");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 8545);
  auto slash = parse_url("http://node-0.local:80/");
  ASSERT_TRUE(slash.ok());
  EXPECT_EQ(slash->host, "node-0.local");
  auto v6 = parse_url("http://[::1]:9000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  for (const char* bad : {"", "127.0.0.1:8545", "https://127.0.0.1:8545", "http://127.0.0.1", "http://:80",
                          "http://h:0", "http://h:65536", "http://h:80x", "http://h:80/rpc", "http://[::1"}) {
    auto result = parse_url(bad);
    EXPECT_FALSE(result.ok()) << bad;
    if (!result.ok()) {
      EXPECT_EQ(result.status().code(), ErrorCode::invalid_argument) << bad;
    }
  }
  RpcClient client("ftp://x:1");
  EXPECT_EQ(client.call("status").status().code(), ErrorCode::invalid_argument);
}

std::uint16_t unused_port() {
  net::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
  return acceptor.local_endpoint().port();  // closed again when acceptor goes
}

TEST(Client, ConnectionRefused) {
  const auto url = "http://127.0.0.1:" + std::to_string(unused_port());
  RpcClient client(url);
  auto result = client.call("status");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::unavailable);
  EXPECT_NE(result.status().message().find("cannot connect to " + url), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find("refused"), std::string::npos) << result.status().message();
}

// A one-connection server with a canned reply (or silence).
class CannedServer {
 public:
  explicit CannedServer(std::string reply)
      : acceptor_(io_, tcp::endpoint(net::ip::address_v4::loopback(), 0)) {
    thread_ = std::thread([this, reply = std::move(reply)] {
      boost::system::error_code ec;
      socket_.emplace(acceptor_.accept(ec));
      if (ec) return;
      std::string request;
      char data[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        auto size = socket_->read_some(net::buffer(data), ec);
        if (ec) return;
        request.append(data, size);
      }
      if (!reply.empty()) net::write(*socket_, net::buffer(reply), ec);
      // Hold the connection open (silence) until the test ends.
      while (!done_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
  }
  ~CannedServer() {
    done_ = true;
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }

 private:
  net::io_context io_;
  tcp::acceptor acceptor_;
  std::optional<tcp::socket> socket_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

TEST(Client, TimeoutIsReported) {
  CannedServer silent("");
  ClientOptions options;
  options.timeout = std::chrono::milliseconds(200);
  RpcClient client(silent.url(), options);
  auto result = client.call("status");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::unavailable);
  EXPECT_NE(result.status().message().find("timed out"), std::string::npos) << result.status().message();
}

std::string http_reply(unsigned status, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + std::string(body);
}

TEST(Client, NonJsonReply) {
  CannedServer server(http_reply(200, "<html>hello</html>"));
  RpcClient client(server.url());
  auto result = client.call("status");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::io_error);
  EXPECT_NE(result.status().message().find("not JSON"), std::string::npos) << result.status().message();
  EXPECT_NE(result.status().message().find("<html>hello</html>"), std::string::npos);
}

TEST(Client, ReplyToAnotherId) {
  CannedServer server(http_reply(200, R"({"jsonrpc":"2.0","result":1,"id":999})"));
  RpcClient client(server.url());
  auto result = client.call("status");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::io_error);
  EXPECT_NE(result.status().message().find("not a JSON-RPC response to this call"), std::string::npos);
}

TEST(Client, HttpErrorStatus) {
  {
    CannedServer server(http_reply(503, "down"));
    auto result = RpcClient(server.url()).call("status");
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), ErrorCode::unavailable);
    EXPECT_NE(result.status().message().find("HTTP 503"), std::string::npos);
  }
  {
    CannedServer server(http_reply(413, "too big"));
    auto result = RpcClient(server.url()).call("status");
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), ErrorCode::invalid_argument);
    EXPECT_NE(result.status().message().find("too big"), std::string::npos);
  }
}

TEST(Client, ErrorWithoutDataMapsByCode) {
  CannedServer server(
      http_reply(200, R"({"jsonrpc":"2.0","error":{"code":-32602,"message":"bad height"},"id":1})"));
  RpcClient client(server.url());
  RpcError error;
  auto result = client.call("get_block", {{"height", -1}}, &error);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(result.status().message(), "bad height");
  EXPECT_EQ(error.code, -32602);
  EXPECT_TRUE(error.data.is_null());
}

// A batch reply must answer calls of that batch, each once; a call the
// server left out gets its own error, the others their results.
TEST(Client, BatchRepliesAreMatchedById) {
  const std::vector<BatchCall> calls{{"status"}, {"status"}, {"status"}};
  {
    // Ids 1..3 (a fresh client): answered out of order, the third left out.
    CannedServer server(http_reply(
        200, R"([{"jsonrpc":"2.0","result":"two","id":2},{"jsonrpc":"2.0","result":"one","id":1}])"));
    auto results = RpcClient(server.url()).call_batch(calls);
    ASSERT_TRUE(results.ok()) << results.status().to_string();
    ASSERT_EQ(results->size(), 3u);
    EXPECT_EQ((*results)[0].value(), "one");
    EXPECT_EQ((*results)[1].value(), "two");
    ASSERT_FALSE((*results)[2].ok());
    EXPECT_EQ((*results)[2].status().code(), ErrorCode::io_error);
    EXPECT_NE((*results)[2].status().message().find("no response to this call"), std::string::npos);
  }
  for (const char* reply : {R"([{"jsonrpc":"2.0","result":1,"id":1},{"jsonrpc":"2.0","result":1,"id":1}])",
                            R"([{"jsonrpc":"2.0","result":1,"id":4}])", R"([{"result":1,"id":1}])"}) {
    CannedServer server(http_reply(200, reply));
    auto results = RpcClient(server.url()).call_batch(calls);
    ASSERT_FALSE(results.ok()) << reply;
    EXPECT_EQ(results.status().code(), ErrorCode::io_error) << reply;
    EXPECT_NE(results.status().message().find("holds a response to no call of it"), std::string::npos)
        << results.status().message();
  }
  {
    CannedServer server(http_reply(200, R"({"jsonrpc":"2.0","result":1,"id":1})"));
    auto results = RpcClient(server.url()).call_batch(calls);
    ASSERT_FALSE(results.ok());
    EXPECT_EQ(results.status().code(), ErrorCode::io_error);
    EXPECT_NE(results.status().message().find("not a JSON-RPC batch"), std::string::npos);
  }
  // Nothing to send: no request at all (no server here to answer one).
  RpcClient idle("http://127.0.0.1:" + std::to_string(unused_port()));
  auto none = idle.call_batch({});
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace cityledger::rpc
