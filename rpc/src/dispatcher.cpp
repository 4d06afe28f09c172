#include "rpc/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <exception>

namespace cityledger::rpc {

using nlohmann::json;

std::string json_text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

constexpr std::size_t method_name_echo_max = 100;

std::string truncated(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "...";
}

RpcError standard_error(int code, std::string_view phrase, const std::string& details) {
  return {code, std::string(phrase) + ": " + details, json{{"details", details}}};
}

// nlohmann's messages start with "[json.exception.parse_error.101] ", which
// says nothing to a client.
std::string parse_error_details(const char* what) {
  std::string_view text(what);
  if (!text.empty() && text.front() == '[') {
    auto end = text.find("] ");
    if (end != std::string_view::npos) text.remove_prefix(end + 2);
  }
  return std::string(text);
}

bool is_number_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

std::optional<std::string> check_number(std::string_view token, const DispatcherLimits& limits) {
  if (token.size() > limits.number_length_max) {
    return "number token of " + std::to_string(token.size()) + " characters (at most " +
           std::to_string(limits.number_length_max) + ")";
  }
  const char* first = token.data();
  const char* last = token.data() + token.size();
  const bool is_integer = token.find_first_of(".eE") == std::string_view::npos;
  if (is_integer) {
    std::errc ec{};
    if (!token.empty() && token.front() == '-') {
      std::int64_t value = 0;
      ec = std::from_chars(first, last, value).ec;
    } else {
      std::uint64_t value = 0;
      ec = std::from_chars(first, last, value).ec;
    }
    if (ec == std::errc::result_out_of_range)
      return "integer " + std::string(token) + " does not fit in 64 bits";
    return std::nullopt;  // malformed tokens are the parser's business
  }
  double value = 0;
  auto [end, ec] = std::from_chars(first, last, value);
  (void)end;
  if (ec == std::errc::result_out_of_range || (ec == std::errc{} && !std::isfinite(value))) {
    return "number " + std::string(token) + " is out of the range of a double";
  }
  return std::nullopt;
}

bool type_matches(const json& value, std::string_view type) {
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "null") return value.is_null();
  return true;  // a keyword we do not check
}

std::optional<std::string> check_schema(const json& value, const json& schema) {
  if (!schema.is_object()) return std::nullopt;
  if (auto it = schema.find("type"); it != schema.end()) {
    bool matched = false;
    std::string expected;
    const json types = it->is_array() ? *it : json::array({*it});
    for (const auto& type : types) {
      if (!type.is_string()) continue;
      if (!expected.empty()) expected += " or ";
      expected += type.get<std::string>();
      matched = matched || type_matches(value, type.get<std::string>());
    }
    if (!matched) return "must be of type " + expected;
  }
  if (auto it = schema.find("enum"); it != schema.end() && it->is_array()) {
    bool found = false;
    for (const auto& option : *it) found = found || option == value;
    if (!found) return "must be one of " + json_text(*it);
  }
  if (value.is_number()) {
    if (auto it = schema.find("minimum"); it != schema.end() && it->is_number() && value < *it) {
      return "must be at least " + json_text(*it);
    }
    if (auto it = schema.find("maximum"); it != schema.end() && it->is_number() && value > *it) {
      return "must be at most " + json_text(*it);
    }
  }
  if (value.is_string()) {
    const auto length = static_cast<std::int64_t>(value.get_ref<const std::string&>().size());
    if (auto it = schema.find("minLength");
        it != schema.end() && it->is_number_integer() && length < it->get<std::int64_t>()) {
      return "must be at least " + json_text(*it) + " characters long";
    }
    if (auto it = schema.find("maxLength");
        it != schema.end() && it->is_number_integer() && length > it->get<std::int64_t>()) {
      return "must be at most " + json_text(*it) + " characters long";
    }
  }
  return std::nullopt;
}

// Positional parameters become named ones; then presence, unknown names and
// the simple schema keywords are checked.
std::variant<json, InvalidParams> normalize_params(const MethodSpec& spec, const json* params) {
  json named = json::object();
  if (params != nullptr && params->is_array()) {
    if (params->size() > spec.params.size()) {
      return InvalidParams{"params", std::to_string(params->size()) + " positional parameters given, " +
                                         spec.name + " takes at most " + std::to_string(spec.params.size())};
    }
    for (std::size_t i = 0; i < params->size(); ++i) named[spec.params[i].name] = (*params)[i];
  } else if (params != nullptr) {
    named = *params;
  }
  for (const auto& [key, value] : named.items()) {
    bool declared = false;
    for (const auto& param : spec.params) declared = declared || param.name == key;
    if (!declared) return InvalidParams{key, "unknown parameter for " + spec.name};
  }
  for (const auto& param : spec.params) {
    auto it = named.find(param.name);
    if (it == named.end()) {
      if (param.required) return InvalidParams{param.name, "missing required parameter"};
      continue;
    }
    if (auto problem = check_schema(*it, param.schema)) return InvalidParams{param.name, *problem};
  }
  return named;
}

struct CodeEntry {
  ErrorCode code;
  int rpc_code;
  const char* id;
};

constexpr CodeEntry code_table[] = {
    {ErrorCode::invalid_argument, -32000, "invalid_argument"},
    {ErrorCode::not_found, -32001, "not_found"},
    {ErrorCode::already_exists, -32002, "already_exists"},
    {ErrorCode::permission_denied, -32003, "permission_denied"},
    {ErrorCode::unavailable, -32004, "unavailable"},
    {ErrorCode::corruption, -32005, "corruption"},
    {ErrorCode::io_error, -32006, "io_error"},
    {ErrorCode::internal, internal_error, "internal"},
};

}  // namespace

int rpc_code_for(ErrorCode code) noexcept {
  for (const auto& entry : code_table) {
    if (entry.code == code) return entry.rpc_code;
  }
  return internal_error;
}

const char* error_code_id(ErrorCode code) noexcept {
  if (code == ErrorCode::ok) return "ok";
  for (const auto& entry : code_table) {
    if (entry.code == code) return entry.id;
  }
  return "internal";
}

std::optional<ErrorCode> error_code_from_id(std::string_view id) noexcept {
  for (const auto& entry : code_table) {
    if (id == entry.id) return entry.code;
  }
  return std::nullopt;
}

json RpcError::to_json() const {
  json out{{"code", code}, {"message", message}};
  if (!data.is_null()) out["data"] = data;
  return out;
}

RpcError rpc_error_from(const Status& status) {
  CL_CHECK(!status.ok());
  return {rpc_code_for(status.code()), status.message(),
          json{{"code", error_code_id(status.code())}, {"details", status.message()}}};
}

MethodResult::MethodResult(const Status& status) : state_(rpc_error_from(status)) {}

MethodResult::MethodResult(Result<json> result)
    : state_(result.ok() ? decltype(state_)(std::move(result).value())
                         : decltype(state_)(rpc_error_from(result.status()))) {}

MethodResult::MethodResult(Result<JsonText> result)
    : state_(result.ok() ? decltype(state_)(std::move(result).value())
                         : decltype(state_)(rpc_error_from(result.status()))) {}

MethodResult::MethodResult(InvalidParams invalid)
    : state_(RpcError{invalid_params, "Invalid params: " + invalid.parameter + ": " + invalid.message,
                      json{{"parameter", invalid.parameter}, {"details", invalid.message}}}) {}

json MethodResult::value() const {
  CL_CHECK(ok());
  if (const auto* text = std::get_if<JsonText>(&state_)) return json::parse(text->text);
  return std::get<json>(state_);
}

std::string MethodResult::text() const {
  CL_CHECK(ok());
  if (const auto* text = std::get_if<JsonText>(&state_)) return text->text;
  return json_text(std::get<json>(state_));
}

const RpcError& MethodResult::error() const {
  CL_CHECK(!ok());
  return std::get<RpcError>(state_);
}

std::optional<std::string> check_json_limits(std::string_view text, const DispatcherLimits& limits) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limits.depth_max) {
        return "JSON nested deeper than " + std::to_string(limits.depth_max) + " levels";
      }
    } else if (c == '}' || c == ']') {
      if (depth > 0) --depth;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t end = i;
      while (end < text.size() && is_number_char(text[end])) ++end;
      if (auto problem = check_number(text.substr(i, end - i), limits)) return problem;
      i = end - 1;
    }
  }
  return std::nullopt;
}

Dispatcher::Dispatcher(DispatcherLimits limits, DispatcherInfo info)
    : limits_(limits), info_(std::move(info)) {
  MethodSpec discover("rpc.discover", "The OpenRPC document describing every method of this server", {},
                      json{{"type", "object"}}, "OpenRPC document");
  methods_.emplace(discover.name,
                   Method{discover, [this](const json&) -> MethodResult { return openrpc_document(); }});
}

void Dispatcher::add(MethodSpec spec, Handler handler) {
  CL_CHECK(!sealed_.load());
  CL_CHECK(!spec.name.empty() && !spec.name.starts_with("rpc."));
  CL_CHECK(handler != nullptr);
  for (std::size_t i = 0; i < spec.params.size(); ++i) {
    for (std::size_t j = i + 1; j < spec.params.size(); ++j)
      CL_CHECK(spec.params[i].name != spec.params[j].name);
  }
  auto name = spec.name;
  const bool inserted = methods_.emplace(std::move(name), Method{std::move(spec), std::move(handler)}).second;
  CL_CHECK(inserted);
}

bool Dispatcher::has(std::string_view name) const { return methods_.find(name) != methods_.end(); }

void Dispatcher::count_request(std::string_view method) const {
  std::lock_guard lock(stats_mutex_);
  ++stats_.requests;
  ++stats_.requests_by_method[std::string(method)];
}

json Dispatcher::error_response(const json& id, const RpcError& error) const {
  {
    std::lock_guard lock(stats_mutex_);
    ++stats_.errors_by_code[error.code];
  }
  return json{{"jsonrpc", "2.0"}, {"error", error.to_json()}, {"id", id}};
}

namespace {

// {"id":…,"jsonrpc":"2.0","result":…}: the keys in the order nlohmann's
// sorted objects give them, written around the result's text, so a large
// result is neither copied into a second tree nor parsed again.
std::string success_response(const json& id, const MethodResult& result) {
  std::string out = "{\"id\":";
  out += json_text(id);
  out += ",\"jsonrpc\":\"2.0\",\"result\":";
  out += result.text();
  out += '}';
  return out;
}

}  // namespace

MethodResult Dispatcher::call(const Method& method, const json& params, const CallContext* context) const {
  try {
    if (context != nullptr && context->local_method) {
      if (auto local = context->local_method(method.spec.name, params)) return std::move(*local);
    }
    return method.handler(params);
  } catch (const std::exception& e) {
    spdlog::error("rpc: method {} threw: {}", method.spec.name, e.what());
  } catch (...) {
    spdlog::error("rpc: method {} threw a non-standard exception", method.spec.name);
  }
  return RpcError{
      internal_error, "Internal error: method " + method.spec.name + " failed unexpectedly",
      json{{"code", "internal"}, {"details", "the handler raised an exception (see the node's log)"}}};
}

std::optional<std::string> Dispatcher::handle_one(const json& request, const CallContext* context) const {
  if (!request.is_object()) {
    count_request("(invalid)");
    return json_text(error_response(
        nullptr, standard_error(invalid_request, "Invalid Request", "a request must be an object")));
  }
  const auto id_it = request.find("id");
  const bool has_id = id_it != request.end();
  if (has_id && !id_it->is_string() && !id_it->is_number() && !id_it->is_null()) {
    count_request("(invalid)");
    return json_text(error_response(nullptr, standard_error(invalid_request, "Invalid Request",
                                                            "id must be a string, a number or null")));
  }
  const json id = has_id ? *id_it : json(nullptr);
  const auto version = request.find("jsonrpc");
  if (version == request.end() || !version->is_string() || *version != "2.0") {
    count_request("(invalid)");
    return json_text(error_response(
        id, standard_error(invalid_request, "Invalid Request", "\"jsonrpc\" must be \"2.0\"")));
  }
  const auto method_name = request.find("method");
  if (method_name == request.end() || !method_name->is_string()) {
    count_request("(invalid)");
    return json_text(error_response(
        id, standard_error(invalid_request, "Invalid Request", "\"method\" must be a string")));
  }
  const auto params = request.find("params");
  if (params != request.end() && !params->is_object() && !params->is_array()) {
    count_request("(invalid)");
    return json_text(error_response(
        id, standard_error(invalid_request, "Invalid Request", "\"params\" must be an object or an array")));
  }

  const auto& name = method_name->get_ref<const std::string&>();
  const auto method = methods_.find(name);
  if (method == methods_.end()) {
    count_request("(unknown)");
    auto error = standard_error(method_not_found, "Method not found", truncated(name, method_name_echo_max));
    auto response = error_response(id, error);
    if (!has_id) return std::nullopt;
    return json_text(response);
  }
  count_request(method->first);

  auto named = normalize_params(method->second.spec, params == request.end() ? nullptr : &*params);
  MethodResult result = std::holds_alternative<InvalidParams>(named)
                            ? MethodResult(std::get<InvalidParams>(std::move(named)))
                            : call(method->second, std::get<json>(named), context);
  if (!has_id) {
    if (!result.ok()) (void)error_response(id, result.error());  // counted all the same
    return std::nullopt;  // a notification: never answered, even on error
  }
  if (!result.ok()) return json_text(error_response(id, result.error()));
  return success_response(id, result);
}

std::optional<std::string> Dispatcher::handle(std::string_view body, const CallContext* context) const {
  try {
    if (auto problem = check_json_limits(body, limits_)) {
      count_request("(invalid)");
      return json_text(error_response(nullptr, standard_error(invalid_request, "Invalid Request", *problem)));
    }
    json request;
    try {
      request = json::parse(body);
    } catch (const json::parse_error& e) {
      count_request("(invalid)");
      return json_text(
          error_response(nullptr, standard_error(parse_error, "Parse error", parse_error_details(e.what()))));
    }
    if (!request.is_array()) return handle_one(request, context);
    if (request.empty()) {
      count_request("(invalid)");
      return json_text(
          error_response(nullptr, standard_error(invalid_request, "Invalid Request", "empty batch")));
    }
    if (request.size() > limits_.batch_size_max) {
      count_request("(invalid)");
      return json_text(error_response(
          nullptr, standard_error(invalid_request, "Invalid Request",
                                  "batch of " + std::to_string(request.size()) + " requests (at most " +
                                      std::to_string(limits_.batch_size_max) + ")")));
    }
    std::string responses;
    for (const auto& one : request) {
      if (auto response = handle_one(one, context)) {
        responses += responses.empty() ? '[' : ',';
        responses += *response;
      }
    }
    if (responses.empty()) return std::nullopt;  // a batch of notifications has no body at all
    responses += ']';
    return responses;
  } catch (const std::exception& e) {
    // Only allocation failure or a bug of ours gets here; the node stays up.
    spdlog::error("rpc: dispatcher failed: {}", e.what());
    return json_text(json{{"jsonrpc", "2.0"},
                          {"error", RpcError{internal_error, "Internal error", nullptr}.to_json()},
                          {"id", nullptr}});
  }
}

json Dispatcher::openrpc_document() const {
  json methods = json::array();
  for (const auto& [name, method] : methods_) {
    const auto& spec = method.spec;
    json params = json::array();
    for (const auto& param : spec.params) {
      json entry{{"name", param.name}, {"required", param.required}, {"schema", param.schema}};
      if (!param.description.empty()) entry["description"] = param.description;
      params.push_back(std::move(entry));
    }
    json entry{{"name", name},
               {"summary", spec.summary},
               {"paramStructure", "either"},
               {"params", std::move(params)},
               {"result", json{{"name", spec.result_name}, {"schema", spec.result_schema}}}};
    if (!spec.description.empty()) entry["description"] = spec.description;
    methods.push_back(std::move(entry));
  }
  return json{{"openrpc", "1.2.6"},
              {"info", json{{"title", info_.title}, {"version", info_.version}}},
              {"methods", std::move(methods)}};
}

DispatcherStats Dispatcher::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

}  // namespace cityledger::rpc
