#include "node/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace cityledger::node {

namespace {

// %J: the message as a JSON string, escaped.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string escaped = nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

Status setup_logging(const std::string& level, const std::string& format, const std::string& node_name) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(node_name, sink);
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return error(ErrorCode::invalid_argument, "unknown log level '" + level + "'");
  }
  logger->set_level(parsed);
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (format == "json") {
    const std::string name = nlohmann::json(node_name).dump();
    formatter->add_flag<JsonMessageFlag>('J').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","node":)" + name + R"(,"msg":%J})");
  } else if (format == "plain") {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ [%n] %v");
  } else {
    return error(ErrorCode::invalid_argument, "log format must be plain or json");
  }
  logger->set_formatter(std::move(formatter));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return {};
}

std::optional<std::uint64_t> LogThrottle::admit(const std::string& key,
                                                std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = slots_.try_emplace(key);
  Slot& slot = it->second;
  if (!inserted && now - slot.last < interval_) {
    ++slot.suppressed;
    return std::nullopt;
  }
  const std::uint64_t suppressed = slot.suppressed;
  slot.last = now;
  slot.suppressed = 0;
  return suppressed;
}

}  // namespace cityledger::node
