// Logging to stderr through spdlog: readable lines by default, or one JSON
// object per line (log_format = "json") for log shippers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace cityledger::node {

Status setup_logging(const std::string& level, const std::string& format, const std::string& node_name);

// Lets one line per key through per interval and counts the rest, so a flood
// of refusals (a misbehaving peer, a client retrying a bad transaction)
// writes a line per second per reason, each saying how many were held back.
// Thread-safe.
class LogThrottle {
 public:
  explicit LogThrottle(std::chrono::milliseconds interval = std::chrono::seconds(1)) : interval_(interval) {}
  // nullopt: drop this line. Otherwise: write it, with the number of lines for
  // `key` dropped since the last one written.
  std::optional<std::uint64_t> admit(
      const std::string& key, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

 private:
  struct Slot {
    std::chrono::steady_clock::time_point last;
    std::uint64_t suppressed = 0;
  };
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::map<std::string, Slot> slots_;
};

}  // namespace cityledger::node
