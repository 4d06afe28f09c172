#include "node/config.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

namespace cityledger::node {

namespace {

template <typename T>
Status read_value(const toml::table& table, const std::string& section, const std::string& key, T& out,
                  std::set<std::string>& known) {
  known.insert(section + "." + key);
  const toml::node* node = table.at_path(section + "." + key).node();
  if (node == nullptr) return {};
  if constexpr (std::is_same_v<T, std::string>) {
    auto v = node->value<std::string>();
    if (!v)
      return error(ErrorCode::invalid_argument, "config.toml: " + section + "." + key + " must be a string");
    out = *v;
  } else {
    auto v = node->value<std::int64_t>();
    if (!v || *v < 0) {
      return error(ErrorCode::invalid_argument,
                   "config.toml: " + section + "." + key + " must be a non-negative integer");
    }
    out = static_cast<T>(*v);
  }
  return {};
}

}  // namespace

Result<NodeConfig> NodeConfig::load(const std::filesystem::path& home) {
  const auto file = home / "config.toml";
  toml::table t;
  try {
    t = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream why;
    why << e.description() << " at line " << e.source().begin.line;
    return error(ErrorCode::invalid_argument, file.string() + ": " + why.str());
  }
  NodeConfig c;
  c.home = home;
  std::set<std::string> known;
  CL_TRY(read_value(t, "node", "name", c.name, known));
  CL_TRY(read_value(t, "node", "chain_id", c.chain_id, known));
  CL_TRY(read_value(t, "files", "genesis", c.genesis_file, known));
  CL_TRY(read_value(t, "files", "validator_key", c.validator_key_file, known));
  CL_TRY(read_value(t, "files", "tls_key", c.tls_key_file, known));
  CL_TRY(read_value(t, "files", "tls_cert", c.tls_cert_file, known));
  CL_TRY(read_value(t, "files", "data_dir", c.data_dir, known));
  CL_TRY(read_value(t, "p2p", "listen", c.p2p_listen, known));
  CL_TRY(read_value(t, "rpc", "listen", c.rpc_listen, known));
  CL_TRY(read_value(t, "rpc", "max_body_bytes", c.rpc_max_body_bytes, known));
  CL_TRY(read_value(t, "consensus", "timeout_propose_ms", c.timeout_propose_ms, known));
  CL_TRY(read_value(t, "consensus", "timeout_vote_ms", c.timeout_vote_ms, known));
  CL_TRY(read_value(t, "mempool", "max_txs", c.mempool_max_txs, known));
  CL_TRY(read_value(t, "mempool", "max_bytes", c.mempool_max_bytes, known));
  CL_TRY(read_value(t, "block", "max_txs", c.block_max_txs, known));
  CL_TRY(read_value(t, "block", "max_bytes", c.block_max_bytes, known));
  CL_TRY(read_value(t, "block", "empty_interval_ms", c.empty_block_interval_ms, known));
  CL_TRY(read_value(t, "state", "snapshot_interval_blocks", c.state_snapshot_interval, known));
  CL_TRY(read_value(t, "disk", "min_free_mib", c.disk_min_free_mib, known));
  CL_TRY(read_value(t, "log", "level", c.log_level, known));
  CL_TRY(read_value(t, "log", "format", c.log_format, known));
  // Top-level spellings, as in `log_format = "json"`; one place per setting.
  for (const auto& [top, section_key, out] :
       {std::tuple<const char*, const char*, std::string*>{"log_format", "log.format", &c.log_format},
        {"log_level", "log.level", &c.log_level}}) {
    const toml::node* node = t.get(top);
    if (node == nullptr) continue;
    if (t.at_path(section_key).node() != nullptr) {
      return error(ErrorCode::invalid_argument,
                   file.string() + ": both " + top + " and " + section_key + " are set; keep one");
    }
    auto v = node->value<std::string>();
    if (!v) return error(ErrorCode::invalid_argument, file.string() + ": " + top + " must be a string");
    *out = *v;
  }
  for (const auto& [section, value] : t) {
    const std::string top(section.str());
    if (top == "log_format" || top == "log_level") continue;
    const auto* table = value.as_table();
    if (table == nullptr) {
      return error(ErrorCode::invalid_argument,
                   file.string() + ": unknown key '" + std::string(section.str()) + "'");
    }
    for (const auto& [key, unused] : *table) {
      const std::string name = std::string(section.str()) + "." + std::string(key.str());
      if (!known.contains(name))
        return error(ErrorCode::invalid_argument, file.string() + ": unknown key '" + name + "'");
    }
  }
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
  if (!levels.contains(c.log_level)) {
    return error(ErrorCode::invalid_argument,
                 file.string() + ": log.level must be trace, debug, info, warn or error");
  }
  if (c.log_format != "plain" && c.log_format != "json") {
    return error(ErrorCode::invalid_argument, file.string() + ": log.format must be \"plain\" or \"json\"");
  }
  return c;
}

std::string NodeConfig::to_toml() const {
  toml::table t{
      {"node", toml::table{{"name", name}, {"chain_id", chain_id}}},
      {"files", toml::table{{"genesis", genesis_file},
                            {"validator_key", validator_key_file},
                            {"tls_key", tls_key_file},
                            {"tls_cert", tls_cert_file},
                            {"data_dir", data_dir}}},
      {"p2p", toml::table{{"listen", p2p_listen}}},
      {"rpc", toml::table{{"listen", rpc_listen},
                          {"max_body_bytes", static_cast<std::int64_t>(rpc_max_body_bytes)}}},
      {"consensus", toml::table{{"timeout_propose_ms", static_cast<std::int64_t>(timeout_propose_ms)},
                                {"timeout_vote_ms", static_cast<std::int64_t>(timeout_vote_ms)}}},
      {"mempool", toml::table{{"max_txs", static_cast<std::int64_t>(mempool_max_txs)},
                              {"max_bytes", static_cast<std::int64_t>(mempool_max_bytes)}}},
      {"block", toml::table{{"max_txs", static_cast<std::int64_t>(block_max_txs)},
                            {"max_bytes", static_cast<std::int64_t>(block_max_bytes)},
                            {"empty_interval_ms", static_cast<std::int64_t>(empty_block_interval_ms)}}},
      {"state",
       toml::table{{"snapshot_interval_blocks", static_cast<std::int64_t>(state_snapshot_interval)}}},
      {"disk", toml::table{{"min_free_mib", static_cast<std::int64_t>(disk_min_free_mib)}}},
      {"log", toml::table{{"level", log_level}, {"format", log_format}}},
  };
  std::ostringstream out;
  out << "# cityledgerd configuration. Paths are relative to this directory.\n" << t << "\n";
  return out.str();
}

Status NodeConfig::save() const {
  std::ofstream out(home / "config.toml", std::ios::trunc);
  out << to_toml();
  out.flush();
  if (!out) return error(ErrorCode::io_error, "cannot write " + (home / "config.toml").string());
  return {};
}

}  // namespace cityledger::node
