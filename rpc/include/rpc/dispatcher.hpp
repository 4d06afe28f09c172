// The JSON-RPC 2.0 dispatcher: a registry of methods and the exact request and
// response rules of https://www.jsonrpc.org/specification, with no sockets.
//
// The HTTP and WebSocket server (rpc/server.hpp) feeds it request bodies; the
// fuzz target feeds it arbitrary bytes. Whoever embeds the server registers the
// methods (the node binds them to the ledger), each with its OpenRPC
// description, which also drives a first check of the parameters and the
// built-in `rpc.discover`.
//
// Threading: register every method before the dispatcher is sealed (the server
// seals it when it starts); after that the registry is read-only and handle()
// may run on any number of threads at once, as long as the handlers allow it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "common/result.hpp"

namespace cityledger::rpc {

// Error codes of the JSON-RPC 2.0 specification.
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;

// Application errors live in the spec's server range -32000..-32099, one code
// per ErrorCode (docs/rpc.md lists them). ErrorCode::internal maps to -32603.
int rpc_code_for(ErrorCode code) noexcept;
// The machine-readable name carried in an error's data ("not_found", ...).
const char* error_code_id(ErrorCode code) noexcept;
// The inverse of error_code_id; nullopt for names it does not know.
std::optional<ErrorCode> error_code_from_id(std::string_view id) noexcept;

// A JSON-RPC error object exactly as it goes on the wire. A null `data` is
// left out of the response.
struct RpcError {
  int code = internal_error;
  std::string message;
  nlohmann::json data;

  nlohmann::json to_json() const;
};

// Application errors from a Status: message = the status message, data =
// {"code": error_code_id, "details": message}.
RpcError rpc_error_from(const Status& status);

// A handler's way to say "-32602 invalid params": which parameter and why.
struct InvalidParams {
  std::string parameter;
  std::string message;
};

// Compact JSON text of `value` that never throws: bytes that are not UTF-8
// inside strings become U+FFFD (handlers may put arbitrary bytes there).
std::string json_text(const nlohmann::json& value);

// A result the handler has already serialized: exactly one JSON value, as
// compact text. The dispatcher puts it into the response as it is, with no
// parse and no tree; for hot methods whose result is mostly cached text
// (get_inclusion_proof). The handler vouches that it is valid JSON.
struct JsonText {
  std::string text;
};

// What a handler returns: a result value, or an error. Implicitly built from
// a json value, JsonText, a (non-ok) Status, a Result<json>, a
// Result<JsonText>, InvalidParams or RpcError, so a handler simply returns
// whichever it has.
class MethodResult {
 public:
  // Any value nlohmann::json accepts: a json, a number, a string, a vector...
  template <typename T>
  requires(std::is_constructible_v<nlohmann::json, T> &&
           !std::is_same_v<std::remove_cvref_t<T>, MethodResult> &&
           !std::is_same_v<std::remove_cvref_t<T>, Status> &&
           !std::is_same_v<std::remove_cvref_t<T>, Result<nlohmann::json>> &&
           !std::is_same_v<std::remove_cvref_t<T>, InvalidParams> &&
           !std::is_same_v<std::remove_cvref_t<T>, RpcError> &&
           !std::is_same_v<std::remove_cvref_t<T>, JsonText> &&
           !std::is_same_v<std::remove_cvref_t<T>, Result<JsonText>>) MethodResult(T&& value)
      : state_(nlohmann::json(std::forward<T>(value))) {}     // NOLINT: implicit by design
  MethodResult(const Status& status);                         // NOLINT: must not be ok
  MethodResult(Result<nlohmann::json> result);                // NOLINT
  MethodResult(Result<JsonText> result);                      // NOLINT
  MethodResult(JsonText text) : state_(std::move(text)) {}    // NOLINT
  MethodResult(InvalidParams invalid);                        // NOLINT
  MethodResult(RpcError error) : state_(std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return !std::holds_alternative<RpcError>(state_); }
  bool is_text() const noexcept { return std::holds_alternative<JsonText>(state_); }
  // The result as a tree; a JsonText result is parsed (tests and tools only).
  nlohmann::json value() const;
  // The result as compact JSON text, as it goes into the response.
  std::string text() const;
  const RpcError& error() const;

 private:
  std::variant<nlohmann::json, JsonText, RpcError> state_;
};

// Handlers always receive the parameters as an object: positional (array)
// parameters are mapped onto the declared names in order, absent params is {}.
using Handler = std::function<MethodResult(const nlohmann::json& params)>;

struct ParamSpec {
  ParamSpec(std::string name_, nlohmann::json schema_ = nlohmann::json::object(), bool required_ = true,
            std::string description_ = {})
      : name(std::move(name_)),
        schema(std::move(schema_)),
        required(required_),
        description(std::move(description_)) {}

  std::string name;
  nlohmann::json
      schema;  // JSON Schema; "type", "enum", "minimum", "maximum", "minLength", "maxLength" are checked
  bool required;
  std::string description;
};

// One method's OpenRPC description.
struct MethodSpec {
  MethodSpec(std::string name_, std::string summary_, std::vector<ParamSpec> params_ = {},
             nlohmann::json result_schema_ = nlohmann::json::object(), std::string result_name_ = "result",
             std::string description_ = {})
      : name(std::move(name_)),
        summary(std::move(summary_)),
        params(std::move(params_)),
        result_schema(std::move(result_schema_)),
        result_name(std::move(result_name_)),
        description(std::move(description_)) {}

  std::string name;
  std::string summary;
  std::vector<ParamSpec> params;
  nlohmann::json result_schema;
  std::string result_name;
  std::string description;
};

struct DispatcherLimits {
  // Deeper nesting is refused before any DOM is built (a recursive parser and
  // destructor would otherwise be a stack-overflow lever).
  std::size_t depth_max = 64;
  // Integers must fit in 64 bits; any number token longer than this is refused.
  std::size_t number_length_max = 64;
  std::size_t batch_size_max = 256;
};

struct DispatcherInfo {
  std::string title = "cityledger JSON-RPC";
  std::string version = "0.1.0";
};

// Per-connection context: the WebSocket session answers `subscribe` and
// `unsubscribe` itself. When set, it is asked first (after the parameters
// were checked against the registered spec); nullopt means "not mine".
struct CallContext {
  std::function<std::optional<MethodResult>(std::string_view method, const nlohmann::json& params)>
      local_method;
};

struct DispatcherStats {
  std::uint64_t requests = 0;  // every request object, notifications and invalid ones included
  std::map<std::string, std::uint64_t> requests_by_method;  // unknown names counted as "(unknown)"
  std::map<int, std::uint64_t> errors_by_code;
};

class Dispatcher {
 public:
  explicit Dispatcher(DispatcherLimits limits = {}, DispatcherInfo info = {});

  // Registers a method. The name must be new, not start with "rpc." (reserved
  // by the spec; rpc.discover is built in) and the dispatcher not yet sealed.
  void add(MethodSpec spec, Handler handler);
  bool has(std::string_view name) const;
  // After this, add() is a programmer error; handle() becomes safe to call
  // from many threads.
  void seal() noexcept { sealed_.store(true); }

  // A whole request body in, a whole response body out; nullopt when the spec
  // says there is no response (a notification, a batch of notifications).
  // Never throws; a handler that throws becomes -32603.
  std::optional<std::string> handle(std::string_view body, const CallContext* context = nullptr) const;

  // The OpenRPC 1.2 document (what rpc.discover returns).
  nlohmann::json openrpc_document() const;

  DispatcherStats stats() const;

 private:
  struct Method {
    MethodSpec spec;
    Handler handler;
  };

  // The serialized response to one request object; nullopt for a notification.
  std::optional<std::string> handle_one(const nlohmann::json& request, const CallContext* context) const;
  MethodResult call(const Method& method, const nlohmann::json& params, const CallContext* context) const;
  nlohmann::json error_response(const nlohmann::json& id, const RpcError& error) const;
  void count_request(std::string_view method) const;

  DispatcherLimits limits_;
  DispatcherInfo info_;
  std::map<std::string, Method, std::less<>> methods_;
  std::atomic<bool> sealed_{false};

  mutable std::mutex stats_mutex_;
  mutable DispatcherStats stats_;
};

// Scans raw JSON text for nesting deeper than depth_max and number tokens
// that are too long, are integers outside 64 bits, or overflow a double.
// Returns the reason for refusing, or nullopt. Pure; used before parsing.
std::optional<std::string> check_json_limits(std::string_view text, const DispatcherLimits& limits);

}  // namespace cityledger::rpc
