// The JSON-RPC 2.0 dispatcher against the examples of the specification
// (https://www.jsonrpc.org/specification, section 7) and hostile bodies.
#include "rpc/dispatcher.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

namespace cityledger::rpc {
namespace {

using nlohmann::json;

// The methods the specification's examples call.
std::unique_ptr<Dispatcher> spec_dispatcher(DispatcherLimits limits = {}) {
  auto d = std::make_unique<Dispatcher>(limits);
  const json integer{{"type", "integer"}};
  d->add({"subtract", "minuend - subtrahend", {{"minuend", integer}, {"subtrahend", integer}}, integer},
         [](const json& p) -> MethodResult {
           return p["minuend"].get<std::int64_t>() - p["subtrahend"].get<std::int64_t>();
         });
  d->add({"sum", "a + b + c", {{"a", integer, false}, {"b", integer, false}, {"c", integer, false}}},
         [](const json& p) -> MethodResult {
           std::int64_t total = 0;
           for (const auto& [key, value] : p.items()) total += value.get<std::int64_t>();
           return total;
         });
  const json any = json::object();
  d->add({"update",
          "a notification target",
          {{"a", any, false}, {"b", any, false}, {"c", any, false}, {"d", any, false}, {"e", any, false}}},
         [](const json&) -> MethodResult { return nullptr; });
  d->add({"notify_sum", "", {{"a", any, false}, {"b", any, false}, {"c", any, false}}},
         [](const json&) -> MethodResult { return nullptr; });
  d->add({"notify_hello", "", {{"a", any, false}}}, [](const json&) -> MethodResult { return nullptr; });
  d->add({"get_data", ""}, [](const json&) -> MethodResult { return json::array({"hello", 5}); });
  d->add({"echo", "returns value", {{"value", any, false}}},
         [](const json& p) -> MethodResult { return p.value("value", json()); });
  d->add({"find", "", {{"code", {{"type", "string"}}}}}, [](const json& p) -> MethodResult {
    const auto name = p["code"].get<std::string>();
    if (name == "ok") return json("found");
    if (name == "bad_param") return InvalidParams{"code", "not a code we know"};
    if (name == "throw") throw std::runtime_error("boom");
    if (name == "throw_int") throw 42;
    auto code = error_code_from_id(name);
    if (!code) throw std::logic_error("no such code");
    return Status(*code, "it went wrong: " + name);
  });
  return d;
}

json call(const Dispatcher& d, std::string_view body) {
  auto out = d.handle(body);
  if (!out) return json("<no response>");
  return json::parse(*out);
}

void expect_error(const json& response, int code, const json& id = nullptr) {
  ASSERT_TRUE(response.is_object()) << response.dump();
  EXPECT_EQ(response["jsonrpc"], "2.0");
  EXPECT_EQ(response["error"]["code"], code) << response.dump();
  EXPECT_TRUE(response["error"]["message"].is_string());
  EXPECT_FALSE(response.contains("result"));
  EXPECT_EQ(response["id"], id) << response.dump();
}

TEST(Dispatcher, SpecPositionalParameters) {
  auto d = spec_dispatcher();
  EXPECT_EQ(call(*d, R"({"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1})"),
            json::parse(R"({"jsonrpc": "2.0", "result": 19, "id": 1})"));
  EXPECT_EQ(call(*d, R"({"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2})"),
            json::parse(R"({"jsonrpc": "2.0", "result": -19, "id": 2})"));
}

TEST(Dispatcher, SpecNamedParameters) {
  auto d = spec_dispatcher();
  EXPECT_EQ(
      call(
          *d,
          R"({"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3})"),
      json::parse(R"({"jsonrpc": "2.0", "result": 19, "id": 3})"));
  EXPECT_EQ(
      call(
          *d,
          R"({"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4})"),
      json::parse(R"({"jsonrpc": "2.0", "result": 19, "id": 4})"));
}

TEST(Dispatcher, SpecNotificationsGetNoResponse) {
  auto d = spec_dispatcher();
  EXPECT_FALSE(d->handle(R"({"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]})"));
  // Not even when the method does not exist, or the handler fails.
  EXPECT_FALSE(d->handle(R"({"jsonrpc": "2.0", "method": "foobar"})"));
  EXPECT_FALSE(d->handle(R"({"jsonrpc": "2.0", "method": "find", "params": {"code": "throw"}})"));
  EXPECT_FALSE(d->handle(R"({"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": "x"}})"));
}

TEST(Dispatcher, SpecMethodNotFound) {
  auto d = spec_dispatcher();
  auto response = call(*d, R"({"jsonrpc": "2.0", "method": "foobar", "id": "1"})");
  expect_error(response, method_not_found, "1");
  EXPECT_NE(response["error"]["message"].get<std::string>().find("foobar"), std::string::npos);
}

TEST(Dispatcher, SpecInvalidJson) {
  auto d = spec_dispatcher();
  expect_error(call(*d, R"({"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz])"), parse_error);
  expect_error(call(*d, ""), parse_error);
  expect_error(call(*d, "{} trailing"), parse_error);
  expect_error(call(*d, "\"\xff\xfe\""), parse_error);  // not UTF-8
}

TEST(Dispatcher, SpecInvalidRequestObject) {
  auto d = spec_dispatcher();
  expect_error(call(*d, R"({"jsonrpc": "2.0", "method": 1, "params": "bar"})"), invalid_request);
}

TEST(Dispatcher, SpecBatchInvalidJson) {
  auto d = spec_dispatcher();
  auto response = call(*d, R"([
    {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
    {"jsonrpc": "2.0", "method"
  ])");
  expect_error(response, parse_error);  // one error object, not an array
}

TEST(Dispatcher, SpecEmptyBatch) {
  auto d = spec_dispatcher();
  expect_error(call(*d, "[]"), invalid_request);
}

TEST(Dispatcher, SpecInvalidBatchNotEmpty) {
  auto d = spec_dispatcher();
  auto one = call(*d, "[1]");
  ASSERT_TRUE(one.is_array());
  ASSERT_EQ(one.size(), 1u);
  expect_error(one[0], invalid_request);
  auto three = call(*d, "[1,2,3]");
  ASSERT_TRUE(three.is_array());
  ASSERT_EQ(three.size(), 3u);
  for (const auto& response : three) expect_error(response, invalid_request);
}

TEST(Dispatcher, SpecMixedBatch) {
  auto d = spec_dispatcher();
  auto responses = call(*d, R"([
    {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
    {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
    {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
    {"foo": "boo"},
    {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
    {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
  ])");
  ASSERT_TRUE(responses.is_array());
  ASSERT_EQ(responses.size(), 5u);
  EXPECT_EQ(responses[0], json::parse(R"({"jsonrpc": "2.0", "result": 7, "id": "1"})"));
  EXPECT_EQ(responses[1], json::parse(R"({"jsonrpc": "2.0", "result": 19, "id": "2"})"));
  expect_error(responses[2], invalid_request);
  expect_error(responses[3], method_not_found, "5");
  EXPECT_EQ(responses[4], json::parse(R"({"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"})"));
}

TEST(Dispatcher, SpecAllNotificationBatchHasNoBody) {
  auto d = spec_dispatcher();
  EXPECT_FALSE(d->handle(R"([
    {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
    {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
  ])"));
}

TEST(Dispatcher, IdsAreEchoedExactly) {
  auto d = spec_dispatcher();
  for (const char* id : {R"("abc")", R"("")", "0", "-7", "18446744073709551615", "-9223372036854775808",
                         "1.5", "null", R"("\u00e9\ud83d\ude00")"}) {
    const auto body =
        std::string(R"({"jsonrpc":"2.0","method":"echo","params":{"value":1},"id":)") + id + "}";
    auto response = call(*d, body);
    EXPECT_EQ(response["id"], json::parse(id)) << body;
    EXPECT_EQ(response["result"], 1) << body;
  }
  // The exact integer survives (not rounded through a double).
  auto out = d->handle(R"({"jsonrpc":"2.0","method":"get_data","id":18446744073709551615})");
  ASSERT_TRUE(out);
  EXPECT_NE(out->find("18446744073709551615"), std::string::npos);
}

TEST(Dispatcher, InvalidRequests) {
  auto d = spec_dispatcher();
  for (const char* id : {"{}", "[]", "true", "[1]"}) {
    expect_error(call(*d, std::string(R"({"jsonrpc":"2.0","method":"echo","id":)") + id + "}"),
                 invalid_request);
  }
  expect_error(call(*d, R"({"jsonrpc":"1.0","method":"echo","id":7})"), invalid_request, 7);
  expect_error(call(*d, R"({"jsonrpc":2.0,"method":"echo","id":7})"), invalid_request, 7);
  expect_error(call(*d, R"({"method":"echo","id":7})"), invalid_request, 7);
  expect_error(call(*d, R"({"jsonrpc":"2.0","id":7})"), invalid_request, 7);
  expect_error(call(*d, R"({"jsonrpc":"2.0","method":null,"id":7})"), invalid_request, 7);
  expect_error(call(*d, R"({"jsonrpc":"2.0","method":"echo","params":5,"id":7})"), invalid_request, 7);
  expect_error(call(*d, R"({"jsonrpc":"2.0","method":"echo","params":"x","id":7})"), invalid_request, 7);
  expect_error(call(*d, R"({"jsonrpc":"2.0","method":"echo","params":null,"id":7})"), invalid_request, 7);
  expect_error(call(*d, R"("just a string")"), invalid_request);
  expect_error(call(*d, "42"), invalid_request);
  expect_error(call(*d, "null"), invalid_request);
}

TEST(Dispatcher, InvalidParamsNameTheParameter) {
  auto d = spec_dispatcher();
  auto missing = call(*d, R"({"jsonrpc":"2.0","method":"subtract","params":{"minuend":1},"id":1})");
  expect_error(missing, invalid_params, 1);
  EXPECT_EQ(missing["error"]["data"]["parameter"], "subtrahend");
  EXPECT_NE(missing["error"]["message"].get<std::string>().find("subtrahend"), std::string::npos);

  auto wrong_type =
      call(*d, R"({"jsonrpc":"2.0","method":"subtract","params":{"minuend":1,"subtrahend":"2"},"id":1})");
  expect_error(wrong_type, invalid_params, 1);
  EXPECT_EQ(wrong_type["error"]["data"]["parameter"], "subtrahend");
  EXPECT_NE(wrong_type["error"]["data"]["details"].get<std::string>().find("integer"), std::string::npos);

  auto unknown =
      call(*d, R"({"jsonrpc":"2.0","method":"subtract","params":{"minuend":1,"subtrahend":2,"x":3},"id":1})");
  expect_error(unknown, invalid_params, 1);
  EXPECT_EQ(unknown["error"]["data"]["parameter"], "x");

  auto too_many = call(*d, R"({"jsonrpc":"2.0","method":"subtract","params":[1,2,3],"id":1})");
  expect_error(too_many, invalid_params, 1);
  EXPECT_EQ(too_many["error"]["data"]["parameter"], "params");

  auto float_for_integer = call(*d, R"({"jsonrpc":"2.0","method":"subtract","params":[1.5,2],"id":1})");
  expect_error(float_for_integer, invalid_params, 1);
  EXPECT_EQ(float_for_integer["error"]["data"]["parameter"], "minuend");

  auto from_handler = call(*d, R"({"jsonrpc":"2.0","method":"find","params":{"code":"bad_param"},"id":1})");
  expect_error(from_handler, invalid_params, 1);
  EXPECT_EQ(from_handler["error"]["data"]["parameter"], "code");
  EXPECT_EQ(from_handler["error"]["data"]["details"], "not a code we know");
}

TEST(Dispatcher, SchemaKeywords) {
  Dispatcher d;
  d.add({"m",
         "",
         {{"height", {{"type", "integer"}, {"minimum", 0}}, false},
          {"topic", {{"type", "string"}, {"enum", {"blocks", "checkpoints"}}}, false},
          {"hash", {{"type", "string"}, {"minLength", 64}, {"maxLength", 64}}, false},
          {"either", {{"type", {"string", "null"}}}, false}}},
        [](const json& p) -> MethodResult { return p; });
  auto param_of = [&](std::string_view params) {
    auto response =
        call(d, std::string(R"({"jsonrpc":"2.0","method":"m","id":1,"params":)") + std::string(params) + "}");
    return response.contains("error") ? response["error"]["data"]["parameter"] : json("ok");
  };
  EXPECT_EQ(param_of(R"({"height":0})"), "ok");
  EXPECT_EQ(param_of(R"({"height":-1})"), "height");
  EXPECT_EQ(param_of(R"({"topic":"blocks"})"), "ok");
  EXPECT_EQ(param_of(R"({"topic":"votes"})"), "topic");
  EXPECT_EQ(param_of(std::string(R"({"hash":")") + std::string(64, 'a') + "\"}"), "ok");
  EXPECT_EQ(param_of(R"({"hash":"abc"})"), "hash");
  EXPECT_EQ(param_of(R"({"either":null})"), "ok");
  EXPECT_EQ(param_of(R"({"either":"x"})"), "ok");
  EXPECT_EQ(param_of(R"({"either":1})"), "either");
  // Absent params are an empty object; positional ones get their names.
  EXPECT_EQ(call(d, R"({"jsonrpc":"2.0","method":"m","id":1})")["result"], json::object());
  EXPECT_EQ(call(d, R"({"jsonrpc":"2.0","method":"m","id":1,"params":[5]})")["result"],
            json({{"height", 5}}));
}

TEST(Dispatcher, ApplicationErrorsFromStatus) {
  auto d = spec_dispatcher();
  const std::pair<const char*, int> cases[] = {
      {"invalid_argument", -32000},  {"not_found", -32001},        {"already_exists", -32002},
      {"permission_denied", -32003}, {"unavailable", -32004},      {"corruption", -32005},
      {"io_error", -32006},          {"internal", internal_error},
  };
  for (const auto& [name, code] : cases) {
    auto response = call(
        *d, std::string(R"({"jsonrpc":"2.0","method":"find","params":{"code":")") + name + R"("},"id":"x"})");
    expect_error(response, code, "x");
    EXPECT_EQ(response["error"]["message"], std::string("it went wrong: ") + name);
    EXPECT_EQ(response["error"]["data"]["code"], name);
    EXPECT_EQ(response["error"]["data"]["details"], std::string("it went wrong: ") + name);
  }
  EXPECT_EQ(call(*d, R"({"jsonrpc":"2.0","method":"find","params":{"code":"ok"},"id":1})")["result"],
            "found");
}

TEST(Dispatcher, ThrowingHandlerIsAnInternalError) {
  auto d = spec_dispatcher();
  for (const char* code : {"throw", "throw_int"}) {
    auto response = call(
        *d, std::string(R"({"jsonrpc":"2.0","method":"find","params":{"code":")") + code + R"("},"id":1})");
    expect_error(response, internal_error, 1);
    // The exception's text stays in the node's log.
    EXPECT_EQ(response.dump().find("boom"), std::string::npos);
  }
  // Still serving.
  EXPECT_EQ(call(*d, R"({"jsonrpc":"2.0","method":"subtract","params":[2,1],"id":1})")["result"], 1);
}

std::string nested_request(std::size_t depth) {
  // The request object is one level; the value adds depth - 2 arrays inside params.
  std::string value(depth - 2, '[');
  value += std::string(depth - 2, ']');
  return R"({"jsonrpc":"2.0","method":"echo","id":1,"params":{"value":)" + value + "}}";
}

TEST(Dispatcher, DeepNestingRefused) {
  auto d = spec_dispatcher();
  auto ok = call(*d, nested_request(64));
  EXPECT_TRUE(ok.contains("result")) << ok.dump();
  auto refused = call(*d, nested_request(65));
  expect_error(refused, invalid_request);
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("nested deeper than 64"), std::string::npos);
  // A million brackets: refused before any parser recursion, no stack overflow.
  expect_error(call(*d, std::string(1'000'000, '[')), invalid_request);
  expect_error(call(*d, std::string(500'000, '{')), invalid_request);
  // Brackets inside strings are not nesting.
  auto in_string = call(*d, std::string(R"({"jsonrpc":"2.0","method":"echo","id":1,"params":{"value":")") +
                                std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"}}");
  EXPECT_TRUE(in_string.contains("result"));
}

TEST(Dispatcher, HugeNumbersRefused) {
  auto d = spec_dispatcher();
  auto with_value = [&](std::string_view value) {
    return call(*d, std::string(R"({"jsonrpc":"2.0","method":"echo","id":1,"params":{"value":)") +
                        std::string(value) + "}}");
  };
  EXPECT_EQ(with_value("18446744073709551615")["result"], json(18446744073709551615ull));
  EXPECT_EQ(with_value("-9223372036854775808")["result"], json(INT64_MIN));
  EXPECT_EQ(with_value("1.5e300")["result"], json(1.5e300));
  for (const char* huge : {"18446744073709551616", "-9223372036854775809", "123456789012345678901234567890",
                           "1e400", "-1e400"}) {
    auto response = with_value(huge);
    expect_error(response, invalid_request);
    EXPECT_NE(response["error"]["message"].get<std::string>().find(huge), std::string::npos) << huge;
  }
  auto long_token = with_value("0." + std::string(100, '1'));
  expect_error(long_token, invalid_request);
  EXPECT_NE(long_token["error"]["message"].get<std::string>().find("characters"), std::string::npos);
  expect_error(call(*d, std::string(1'000'000, '9')), invalid_request);
  // Digits inside strings are just text.
  EXPECT_EQ(with_value("\"123456789012345678901234567890\"")["result"], "123456789012345678901234567890");
  // A huge id is refused too, with id null.
  expect_error(call(*d, R"({"jsonrpc":"2.0","method":"echo","id":99999999999999999999999})"),
               invalid_request);
}

TEST(Dispatcher, BatchSizeLimited) {
  DispatcherLimits limits;
  limits.batch_size_max = 3;
  auto d = spec_dispatcher(limits);
  const std::string one = R"({"jsonrpc":"2.0","method":"get_data","id":1})";
  EXPECT_TRUE(call(*d, "[" + one + "," + one + "," + one + "]").is_array());
  expect_error(call(*d, "[" + one + "," + one + "," + one + "," + one + "]"), invalid_request);
}

TEST(Dispatcher, DiscoverListsEveryMethod) {
  auto d = spec_dispatcher();
  auto response = call(*d, R"({"jsonrpc":"2.0","method":"rpc.discover","id":1})");
  const auto& document = response["result"];
  EXPECT_EQ(document["openrpc"], "1.2.6");
  EXPECT_TRUE(document["info"]["title"].is_string());
  std::set<std::string> names;
  for (const auto& method : document["methods"]) {
    names.insert(method["name"].get<std::string>());
    EXPECT_TRUE(method["params"].is_array());
    EXPECT_TRUE(method["result"].contains("schema"));
  }
  EXPECT_EQ(names, (std::set<std::string>{"echo", "find", "get_data", "notify_hello", "notify_sum",
                                          "rpc.discover", "subtract", "sum", "update"}));
  for (const auto& method : document["methods"]) {
    if (method["name"] != "subtract") continue;
    ASSERT_EQ(method["params"].size(), 2u);
    EXPECT_EQ(method["params"][0]["name"], "minuend");
    EXPECT_EQ(method["params"][0]["required"], true);
    EXPECT_EQ(method["params"][0]["schema"]["type"], "integer");
  }
}

TEST(Dispatcher, LocalMethodsOfAConnection) {
  auto d = spec_dispatcher();
  CallContext context;
  context.local_method = [](std::string_view method, const json& params) -> std::optional<MethodResult> {
    if (method == "echo") return json{{"local", params}};
    return std::nullopt;
  };
  auto out = d->handle(R"({"jsonrpc":"2.0","method":"echo","params":[3],"id":1})", &context);
  ASSERT_TRUE(out);
  EXPECT_EQ(json::parse(*out)["result"], json({{"local", {{"value", 3}}}}));
  out = d->handle(R"({"jsonrpc":"2.0","method":"get_data","id":1})", &context);
  ASSERT_TRUE(out);
  EXPECT_EQ(json::parse(*out)["result"], json::array({"hello", 5}));
}

TEST(Dispatcher, Counters) {
  auto d = spec_dispatcher();
  (void)d->handle(R"({"jsonrpc":"2.0","method":"get_data","id":1})");
  (void)d->handle(
      R"([{"jsonrpc":"2.0","method":"get_data","id":1},{"jsonrpc":"2.0","method":"nope","id":2}])");
  (void)d->handle("{bad json");
  const auto stats = d->stats();
  EXPECT_EQ(stats.requests, 4u);
  EXPECT_EQ(stats.requests_by_method.at("get_data"), 2u);
  EXPECT_EQ(stats.requests_by_method.at("(unknown)"), 1u);
  EXPECT_EQ(stats.requests_by_method.at("(invalid)"), 1u);
  EXPECT_EQ(stats.errors_by_code.at(method_not_found), 1u);
  EXPECT_EQ(stats.errors_by_code.at(parse_error), 1u);
}

TEST(Dispatcher, MethodResultConversions) {
  MethodResult from_json = json{{"a", 1}};
  EXPECT_TRUE(from_json.ok());
  MethodResult from_result = Result<json>(json(2));
  EXPECT_EQ(from_result.value(), 2);
  MethodResult from_failed = Result<json>(Status(ErrorCode::not_found, "gone"));
  EXPECT_EQ(from_failed.error().code, -32001);
  EXPECT_EQ(from_failed.error().message, "gone");
  EXPECT_EQ(rpc_code_for(ErrorCode::internal), internal_error);
  EXPECT_STREQ(error_code_id(ErrorCode::permission_denied), "permission_denied");
  EXPECT_FALSE(error_code_from_id("ok"));
  EXPECT_FALSE(error_code_from_id("nonsense"));
}

// A JsonText result goes into the response as it is, and the response is the
// same bytes a tree result of the same value gives.
TEST(Dispatcher, JsonTextResultsAreWrittenVerbatim) {
  Dispatcher d;
  const json value = {{"b", json::array({1, "two", nullptr})}, {"a", {{"z", true}, {"y", "\u00e9\n"}}}};
  d.add({"tree", ""}, [&](const json&) -> MethodResult { return value; });
  d.add({"text", ""}, [&](const json&) -> MethodResult { return JsonText{value.dump()}; });
  d.add({"text_failed", ""}, [](const json&) -> MethodResult {
    return Result<JsonText>(Status(ErrorCode::not_found, "no such leaf"));
  });
  d.add({"text_ok", ""}, [](const json&) -> MethodResult { return Result<JsonText>(JsonText{"[1,2]"}); });
  const auto tree = d.handle(R"({"jsonrpc":"2.0","method":"tree","id":"x"})");
  const auto text = d.handle(R"({"jsonrpc":"2.0","method":"text","id":"x"})");
  ASSERT_TRUE(tree && text);
  EXPECT_EQ(*text, *tree);
  EXPECT_EQ(*text, R"({"id":"x","jsonrpc":"2.0","result":)" + value.dump() + "}");
  EXPECT_EQ(json::parse(*text)["result"], value);

  // In a batch, next to a tree result, an error and a notification.
  const auto batch = d.handle(R"([{"jsonrpc":"2.0","method":"text","id":1},
      {"jsonrpc":"2.0","method":"text_failed","id":2},{"jsonrpc":"2.0","method":"text"},
      {"jsonrpc":"2.0","method":"text_ok","id":3}])");
  ASSERT_TRUE(batch);
  const json responses = json::parse(*batch);
  ASSERT_EQ(responses.size(), 3u) << *batch;
  EXPECT_EQ(responses[0]["result"], value);
  EXPECT_EQ(responses[1]["error"]["code"], -32001);
  EXPECT_EQ(responses[1]["error"]["message"], "no such leaf");
  EXPECT_EQ(responses[2]["result"], json::array({1, 2}));
  EXPECT_EQ(d.stats().errors_by_code.at(-32001), 1u);

  // A batch of notifications only still has no body.
  EXPECT_FALSE(d.handle(R"([{"jsonrpc":"2.0","method":"text"},{"jsonrpc":"2.0","method":"text_failed"}])"));
  EXPECT_EQ(d.stats().errors_by_code.at(-32001), 2u);

  MethodResult raw = JsonText{R"({"k":[1]})"};
  EXPECT_TRUE(raw.ok());
  EXPECT_TRUE(raw.is_text());
  EXPECT_EQ(raw.value(), (json{{"k", {1}}}));
  EXPECT_EQ(raw.text(), R"({"k":[1]})");
  MethodResult tree_result = json{{"k", {1}}};
  EXPECT_FALSE(tree_result.is_text());
  EXPECT_EQ(tree_result.text(), R"({"k":[1]})");
}

}  // namespace
}  // namespace cityledger::rpc
