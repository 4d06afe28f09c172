// Logging to stderr through spdlog: readable lines by default, or one JSON
// object per line (log_format = "json") for log shippers.
#pragma once

#include <string>

#include "common/result.hpp"

namespace cityledger::node {

Status setup_logging(const std::string& level, const std::string& format, const std::string& node_name);

}  // namespace cityledger::node
