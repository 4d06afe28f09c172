// JSON-RPC request bodies from the network: the dispatcher never crashes or
// throws, and whatever it answers is a well-formed JSON-RPC response (or
// nothing, for notifications).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "rpc/dispatcher.hpp"

using namespace cityledger;
using nlohmann::json;

namespace {

const rpc::Dispatcher& dispatcher() {
  static const rpc::Dispatcher* instance = [] {
    auto* d = new rpc::Dispatcher();
    const json integer{{"type", "integer"}, {"minimum", 0}};
    d->add({"echo", "returns value", {{"value", json::object(), false}}},
           [](const json& p) -> rpc::MethodResult { return p.value("value", json()); });
    d->add({"get_block", "by height", {{"height", integer}}}, [](const json& p) -> rpc::MethodResult {
      const auto height = p["height"].get<std::uint64_t>();
      if (height > 100) return Status(ErrorCode::not_found, "no block " + std::to_string(height));
      if (height == 13) throw std::runtime_error("unlucky");
      if (height == 7) return rpc::InvalidParams{"height", "seven is reserved"};
      return json{{"height", height}};
    });
    d->add({"get_entry",
            "by hash",
            {{"content_hash", {{"type", "string"}, {"minLength", 64}, {"maxLength", 64}}},
             {"tree_size", integer, false}}},
           [](const json& p) -> rpc::MethodResult { return p; });
    d->seal();
    return d;
  }();
  return *instance;
}

void check_response(const json& response) {
  FUZZ_ASSERT(response.is_object());
  FUZZ_ASSERT(response.value("jsonrpc", json()) == "2.0");
  FUZZ_ASSERT(response.contains("id"));
  const auto& id = response["id"];
  FUZZ_ASSERT(id.is_null() || id.is_string() || id.is_number());
  FUZZ_ASSERT(response.contains("result") != response.contains("error"));
  if (response.contains("error")) {
    const auto& error = response["error"];
    FUZZ_ASSERT(error.is_object() && error["code"].is_number_integer() && error["message"].is_string());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto out = dispatcher().handle(body);  // handle() is noexcept in practice: a throw aborts the fuzzer
  if (!out) return 0;
  const json response = json::parse(*out, nullptr, false);
  FUZZ_ASSERT(!response.is_discarded());
  if (response.is_array()) {
    FUZZ_ASSERT(!response.empty());
    for (const auto& one : response) check_response(one);
  } else {
    check_response(response);
  }
  return 0;
}
