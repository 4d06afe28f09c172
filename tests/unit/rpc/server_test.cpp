// The HTTP and WebSocket server on loopback: real requests, hostile clients,
// and the server staying healthy for everyone else.
#include "rpc/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/beast/websocket.hpp>
#include <thread>

#include "rpc/client.hpp"
#include "rpc_test_support.hpp"

namespace cityledger::rpc {
namespace {

using namespace cityledger::rpc::testing;
using nlohmann::json;
namespace websocket = beast::websocket;

void expect_healthy(const TestServer& server) {
  RpcClient client(server.url());
  auto result = client.call("echo", {{"value", "still here"}});
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(*result, "still here");
}

TEST(Server, CallOverHttpWithKeepAlive) {
  TestServer server;
  RpcClient client(server.url());
  for (int i = 0; i < 3; ++i) {
    auto result = client.call("echo", {{"value", i}});
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    EXPECT_EQ(*result, i);
  }
  const auto stats = server.server().stats();
  EXPECT_EQ(stats.connections_accepted, 1u);  // one connection for all three calls
  EXPECT_EQ(stats.rpc.requests_by_method.at("echo"), 3u);
  EXPECT_EQ(stats.http_responses_by_status.at(200), 3u);
}

TEST(Server, BatchCallsInOneRequest) {
  TestServer server;
  RpcClient client(server.url());
  const std::vector<BatchCall> calls{{"echo", {{"value", 1}}},
                                     {"fail"},
                                     {"echo", {{"value", "x"}}},
                                     {"no_such_method"},
                                     {"echo", {{"nope", 1}}}};
  auto results = client.call_batch(calls);
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  ASSERT_EQ(results->size(), calls.size());
  EXPECT_EQ((*results)[0].value(), 1);
  EXPECT_EQ((*results)[1].status().code(), ErrorCode::not_found);
  EXPECT_EQ((*results)[1].status().message(), "block 12 does not exist");
  EXPECT_EQ((*results)[2].value(), "x");
  EXPECT_EQ((*results)[3].status().code(), ErrorCode::not_found);
  EXPECT_EQ((*results)[4].status().code(), ErrorCode::invalid_argument);
  // The ids go on after a batch: a single call on the same client still matches.
  auto after = client.call("echo", {{"value", 2}});
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  EXPECT_EQ(*after, 2);
  const auto stats = server.server().stats();
  EXPECT_EQ(stats.connections_accepted, 1u);
  EXPECT_EQ(stats.http_responses_by_status.at(200), 2u);  // one for the batch, one for the call
  EXPECT_EQ(stats.rpc.requests_by_method.at("echo"), 4u);

  // A batch over the server's limit is refused as a whole.
  std::vector<BatchCall> too_many(DispatcherLimits{}.batch_size_max + 1, BatchCall{"echo", {{"value", 0}}});
  auto refused = client.call_batch(too_many);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::invalid_argument);
  EXPECT_NE(refused.status().message().find("batch"), std::string::npos) << refused.status().message();
  expect_healthy(server);
}

TEST(Server, ErrorsReachTheClientWithData) {
  TestServer server;
  RpcClient client(server.url());
  RpcError error;
  auto result = client.call("fail", json::object(), &error);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::not_found);
  EXPECT_EQ(result.status().message(), "block 12 does not exist");
  EXPECT_EQ(error.code, -32001);
  EXPECT_EQ(error.data["code"], "not_found");

  result = client.call("no_such_method", json::object(), &error);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(error.code, method_not_found);
  EXPECT_EQ(result.status().code(), ErrorCode::not_found);

  result = client.call("echo", {{"nope", 1}}, &error);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(error.code, invalid_params);
  EXPECT_EQ(error.data["parameter"], "nope");

  // subscribe exists, but only over the WebSocket.
  result = client.call("subscribe", {{"topic", "blocks"}}, &error);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("/ws"), std::string::npos);
  EXPECT_EQ(server.server().stats().rpc.errors_by_code.at(-32001), 1u);
}

TEST(Server, RawHttpSemantics) {
  TestServer server(ServerConfig{}, [](Dispatcher&, Server& s) {
    s.add_get_route("/explorer",
                    [](std::string_view target) {
                      return HttpResponse{200, "text/html", "<p>" + std::string(target) + "</p>"};
                    },
                    {{"X-Test", "yes"}});
    s.add_get_route("/explorer/fail",
                    [](std::string_view) -> HttpResponse { throw std::runtime_error("x"); });
  });
  RawConnection raw(server.port());
  ASSERT_FALSE(raw.connect_error());

  auto expect_status = [&](const std::string& request, unsigned status) -> http::response<http::string_body> {
    EXPECT_FALSE(raw.send(request));
    auto response = raw.read_response();
    EXPECT_TRUE(response) << raw.last_error().message();
    if (!response) return {};
    EXPECT_EQ(response->result_int(), status) << request;
    return *response;
  };
  auto ok = expect_status(http_post(R"({"jsonrpc":"2.0","method":"echo","params":[1],"id":1})"), 200);
  EXPECT_EQ(ok[http::field::content_type], "application/json");
  EXPECT_EQ(json::parse(ok.body())["result"], 1);
  // Notifications only: nothing to say.
  auto none =
      expect_status(http_post(R"([{"jsonrpc":"2.0","method":"echo"},{"jsonrpc":"2.0","method":"x"}])"), 204);
  EXPECT_TRUE(none.body().empty());
  // Parse errors are JSON-RPC answers, with HTTP 200.
  EXPECT_EQ(json::parse(expect_status(http_post("{oops"), 200).body())["error"]["code"], parse_error);
  expect_status(http_post("{}", "text/plain"), 415);
  expect_status(http_post("{}", "application/json; charset=utf-8"), 200);
  auto get_root = expect_status(http_get("/"), 405);
  EXPECT_EQ(get_root[http::field::allow], "POST");
  expect_status(http_get("/nothing-here"), 404);
  expect_status("POST /livez HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405);
  EXPECT_EQ(expect_status(http_get("/livez"), 200).body(), "ok\n");
  auto page = expect_status(http_get("/explorer/block/5?x=1"), 200);
  EXPECT_EQ(page.body(), "<p>/explorer/block/5?x=1</p>");
  EXPECT_EQ(page["X-Test"], "yes");  // the route's own headers
  EXPECT_EQ(page[http::field::content_type], "text/html");
  expect_status(http_get("/explorer/fail"), 500);
  expect_status("POST /explorer HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405);
  expect_status(http_get("/ws"), 426);
  // All of it on one keep-alive connection.
  EXPECT_EQ(server.server().stats().connections_accepted, 1u);
}

TEST(Server, ReadinessFlips) {
  std::atomic<bool> ready{false};
  TestServer server(ServerConfig{}, [&](Dispatcher&, Server& s) {
    s.set_readiness([&] { return ready.load() ? Readiness{} : Readiness{false, "syncing: height 3 of 10"}; });
  });
  RawConnection raw(server.port());
  ASSERT_FALSE(raw.send(http_get("/readyz")));
  auto response = raw.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result_int(), 503u);
  EXPECT_EQ(json::parse(response->body()), json({{"ready", false}, {"reason", "syncing: height 3 of 10"}}));
  ready = true;
  ASSERT_FALSE(raw.send(http_get("/readyz")));
  response = raw.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result_int(), 200u);
  EXPECT_EQ(json::parse(response->body())["ready"], true);
}

ServerConfig small_limits() {
  ServerConfig config;
  config.body_limit_bytes = 1024;
  config.header_limit_bytes = 1024;
  return config;
}

TEST(Server, BodyOverLimitRefusedFromTheHeader) {
  TestServer server(small_limits());
  RawConnection raw(server.port());
  // 100 MB announced, nothing sent: the answer comes from the header alone.
  ASSERT_FALSE(raw.send(
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"));
  auto response = raw.read_response();
  ASSERT_TRUE(response) << raw.last_error().message();
  EXPECT_EQ(response->result_int(), 413u);
  EXPECT_FALSE(response->keep_alive());
  EXPECT_TRUE(raw.closed_by_server());
  expect_healthy(server);
  EXPECT_EQ(server.server().stats().http_responses_by_status.at(413), 1u);
}

TEST(Server, StreamedBodyOverLimitGets413AndTheServerStaysUp) {
  TestServer server(small_limits());
  RawConnection raw(server.port());
  ASSERT_FALSE(raw.send(
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 16777216\r\n\r\n"));
  // The client sends part of its body regardless; the server answers anyway.
  std::string chunk(64 << 10, 'x');
  for (int i = 0; i < 4; ++i) {
    if (raw.send(chunk)) break;  // the server may stop reading: fine
  }
  auto response = raw.read_response();
  ASSERT_TRUE(response) << raw.last_error().message();
  EXPECT_EQ(response->result_int(), 413u);
  expect_healthy(server);
}

TEST(Server, ChunkedBodyOverLimitGets413) {
  TestServer server(small_limits());
  RawConnection raw(server.port());
  std::string request =
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  request += "800\r\n" + std::string(0x800, ' ') + "\r\n0\r\n\r\n";
  ASSERT_FALSE(raw.send(request));
  auto response = raw.read_response();
  ASSERT_TRUE(response) << raw.last_error().message();
  EXPECT_EQ(response->result_int(), 413u);
  expect_healthy(server);
}

TEST(Server, OversizedHeaderGets431) {
  TestServer server(small_limits());
  RawConnection raw(server.port());
  ASSERT_FALSE(
      raw.send("GET /livez HTTP/1.1\r\nHost: t\r\nX-Padding: " + std::string(4000, 'a') + "\r\n\r\n"));
  auto response = raw.read_response();
  ASSERT_TRUE(response) << raw.last_error().message();
  EXPECT_EQ(response->result_int(), 431u);
  expect_healthy(server);
}

TEST(Server, MalformedRequestGets400) {
  TestServer server;
  RawConnection raw(server.port());
  ASSERT_FALSE(raw.send("NOT HTTP AT ALL\r\n\r\n"));
  auto response = raw.read_response();
  ASSERT_TRUE(response) << raw.last_error().message();
  EXPECT_EQ(response->result_int(), 400u);
  expect_healthy(server);
}

TEST(Server, ConnectionsBeyondTheMaximumAreClosed) {
  ServerConfig config;
  config.connections_max = 2;
  TestServer server(config);
  // Two connections in use (a full exchange proves the server holds them).
  RpcClient first(server.url());
  RpcClient second(server.url());
  ASSERT_TRUE(first.call("echo", {{"value", 1}}).ok());
  ASSERT_TRUE(second.call("echo", {{"value", 2}}).ok());
  RawConnection third(server.port());
  ASSERT_FALSE(third.connect_error());  // the kernel accepts; the server closes at once
  EXPECT_TRUE(third.closed_by_server());
  EXPECT_EQ(server.server().stats().connections_rejected, 1u);
  EXPECT_EQ(server.server().stats().connections_active, 2u);
  // The two held connections are still served.
  EXPECT_TRUE(first.call("echo", {{"value", 3}}).ok());
  // Once one goes away, a newcomer gets in.
  first = RpcClient(server.url());
  bool served = false;
  for (int attempt = 0; attempt < 200 && !served; ++attempt) {
    RpcClient newcomer(server.url());
    served = newcomer.call("echo", {{"value", 4}}).ok();
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(served);
}

TEST(Server, SlowClientTimedOutWhileOthersAreServed) {
  ServerConfig config;
  config.request_timeout = std::chrono::milliseconds(300);
  TestServer server(config);
  RawConnection slow(server.port());
  ASSERT_FALSE(slow.send(
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jso"));
  expect_healthy(server);  // served while the slow one hangs on
  // Cut off without an answer (the timed-out socket is closed at once).
  EXPECT_FALSE(slow.read_response());
  // The socket closes before the server's handler counts it: wait for the count.
  for (int i = 0; i < 3000 && server.server().stats().requests_timed_out == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(server.server().stats().requests_timed_out, 1u);
}

TEST(Server, IdleKeepAliveConnectionClosed) {
  ServerConfig config;
  config.idle_timeout = std::chrono::milliseconds(200);
  TestServer server(config);
  RawConnection raw(server.port());
  ASSERT_FALSE(raw.send(http_get("/livez")));
  ASSERT_TRUE(raw.read_response());
  EXPECT_TRUE(raw.closed_by_server());  // no second request: closed, without a response
  // The client library reconnects transparently after such a close.
  RpcClient client(server.url());
  ASSERT_TRUE(client.call("echo", {{"value", 1}}).ok());
  for (int i = 0; i < 3000 && server.server().stats().connections_active != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server.server().stats().connections_active, 0u);
  auto again = client.call("echo", {{"value", 2}});
  ASSERT_TRUE(again.ok()) << again.status().to_string();
}

TEST(Server, PortInUseIsAnError) {
  TestServer first;
  net::io_context io;
  ServerConfig config;
  config.port = first.port();
  Server second(io, std::make_shared<Dispatcher>(), config);
  auto status = second.start();
  EXPECT_EQ(status.code(), ErrorCode::io_error);
  EXPECT_NE(status.message().find(std::to_string(first.port())), std::string::npos);
}

// A synchronous WebSocket client.
class WsClient {
 public:
  explicit WsClient(std::uint16_t port) : ws_(io_) {
    ws_.next_layer().connect(tcp::endpoint(net::ip::address_v4::loopback(), port));
    ws_.handshake("127.0.0.1", "/ws");
  }
  void send(const json& message) { ws_.write(net::buffer(message.dump())); }
  json receive() {
    beast::flat_buffer buffer;
    ws_.read(buffer);
    return json::parse(beast::buffers_to_string(buffer.data()));
  }
  json call(const std::string& method, const json& params, int id) {
    send({{"jsonrpc", "2.0"}, {"method", method}, {"params", params}, {"id", id}});
    return receive();
  }
  websocket::stream<tcp::socket>& stream() { return ws_; }

 private:
  net::io_context io_;
  websocket::stream<tcp::socket> ws_;
};

TEST(Server, WebSocketSubscribePublishUnsubscribe) {
  TestServer server;
  WsClient client(server.port());
  // Ordinary methods work over the WebSocket too.
  EXPECT_EQ(client.call("echo", {{"value", "hi"}}, 1)["result"], "hi");

  auto subscribed = client.call("subscribe", {{"topic", "blocks"}}, 2);
  ASSERT_TRUE(subscribed.contains("result")) << subscribed.dump();
  const auto id = subscribed["result"]["subscription"].get<std::string>();
  EXPECT_EQ(subscribed["id"], 2);

  server.server().publish("checkpoints", {{"tree_size", 5}});  // not subscribed: not sent
  server.server().publish("blocks", {{"height", 7}});
  auto notification = client.receive();
  EXPECT_EQ(notification,
            json({{"jsonrpc", "2.0"},
                  {"method", "subscription"},
                  {"params", {{"subscription", id}, {"topic", "blocks"}, {"result", {{"height", 7}}}}}}));

  auto bad_topic = client.call("subscribe", {{"topic", "votes"}}, 3);
  EXPECT_EQ(bad_topic["error"]["code"], invalid_params);
  EXPECT_EQ(bad_topic["error"]["data"]["parameter"], "topic");

  EXPECT_EQ(client.call("unsubscribe", {{"subscription", id}}, 4)["result"], true);
  EXPECT_EQ(client.call("unsubscribe", {{"subscription", id}}, 5)["error"]["data"]["code"], "not_found");
  server.server().publish("blocks", {{"height", 8}});
  // The next message is the answer to the next call, not a notification.
  EXPECT_EQ(client.call("echo", {{"value", 9}}, 6)["result"], 9);

  const auto stats = server.server().stats();
  EXPECT_EQ(stats.websocket_sessions, 1u);
  EXPECT_EQ(stats.notifications_sent, 1u);
}

TEST(Server, WebSocketClientThatDoesNotReadIsDropped) {
  ServerConfig config;
  config.websocket_queue_max = 4;
  TestServer server(config);
  WsClient slow(server.port());
  ASSERT_TRUE(slow.call("subscribe", {{"topic", "checkpoints"}}, 1).contains("result"));
  // Far more than the socket buffers hold, and the client never reads.
  const json big = {{"body", std::string(64 << 10, 'c')}};
  for (int i = 0; i < 1000 && server.server().stats().websocket_clients_dropped == 0; ++i) {
    server.server().publish("checkpoints", big);
  }
  EXPECT_EQ(server.server().stats().websocket_clients_dropped, 1u);
  // Others are unaffected.
  WsClient other(server.port());
  EXPECT_EQ(other.call("echo", {{"value", 1}}, 1)["result"], 1);
  expect_healthy(server);
}

TEST(Server, ConcurrentClientsAndPublisherOnSeveralIoThreads) {
  TestServer server(ServerConfig{}, {}, 3);
  WsClient subscriber(server.port());
  auto subscribed = subscriber.call("subscribe", {{"topic", "blocks"}}, 1);
  ASSERT_TRUE(subscribed.contains("result"));
  constexpr int notifications = 200;
  std::thread publisher([&] {
    for (int height = 0; height < notifications; ++height)
      server.server().publish("blocks", {{"height", height}});
  });
  std::vector<std::thread> clients;
  std::atomic<int> succeeded{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      RpcClient client(server.url());
      for (int i = 0; i < 50; ++i) {
        auto result = client.call("echo", {{"value", c * 1000 + i}});
        if (result.ok() && *result == c * 1000 + i) succeeded.fetch_add(1);
      }
    });
  }
  // Notifications arrive complete and in publication order.
  for (int height = 0; height < notifications; ++height) {
    auto message = subscriber.receive();
    ASSERT_EQ(message["params"]["result"]["height"], height);
  }
  publisher.join();
  for (auto& client : clients) client.join();
  EXPECT_EQ(succeeded.load(), 200);
}

TEST(Server, MetricsText) {
  TestServer server;
  RpcClient client(server.url());
  ASSERT_TRUE(client.call("echo", {{"value", 1}}).ok());
  const auto text = server.server().metrics_text();
  EXPECT_NE(text.find("cityledger_rpc_requests_total{method=\"echo\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("cityledger_rpc_connections_rejected_total 0\n"), std::string::npos) << text;
}

TEST(Server, DiscoverIncludesSubscriptions) {
  TestServer server;
  RpcClient client(server.url());
  auto document = client.call("rpc.discover");
  ASSERT_TRUE(document.ok()) << document.status().to_string();
  std::set<std::string> names;
  for (const auto& method : (*document)["methods"]) names.insert(method["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"echo", "fail", "rpc.discover", "subscribe", "unsubscribe"}));
}

TEST(Server, StopClosesOpenConnections) {
  auto server = std::make_unique<TestServer>();
  RawConnection idle(server->port());
  WsClient ws(server->port());
  ASSERT_FALSE(idle.send(http_get("/livez")));
  ASSERT_TRUE(idle.read_response());
  server.reset();  // stop(), and the io_context thread ends by itself
  EXPECT_TRUE(idle.closed_by_server());
}

}  // namespace
}  // namespace cityledger::rpc
