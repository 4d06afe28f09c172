// Read-only commands: status, block, tx, validators, proof.
#include <iostream>
#include <optional>

#include "cli.hpp"

namespace cityledger::cli {

using nlohmann::json;

namespace {

Result<json> call(const Global& g, std::string_view method, const json& params = json::object()) {
  rpc::RpcClient client(g.rpc_url);
  return client.call(method, params);
}

std::string str(const json& j, const char* key) {
  if (!j.contains(key)) return "-";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

// Calls the method; with --json prints the result as it is. Returns the exit
// code when the command is done (error or --json), nullopt to go on and
// print it for people.
std::optional<int> fetch(const Global& g, std::string_view method, const json& params, json& out) {
  auto r = call(g, method, params);
  if (!r) return fail(r.status());
  out = std::move(*r);
  if (!g.json) return std::nullopt;
  print_json(out);
  return exit_ok;
}

}  // namespace

int run_status(const Global& g) {
  json s;
  if (auto done = fetch(g, "status", json::object(), s)) return *done;
  std::cout << "chain      " << str(s, "chain_id") << "\n"
            << "node       " << str(s, "node") << " (" << g.rpc_url << ")\n"
            << "height     " << str(s, "height") << "  " << str(s, "last_block_hash") << "\n"
            << "log        " << str(s, "tree_size") << " entries, root " << str(s, "tree_root") << "\n"
            << "peers      " << str(s, "peers") << " of "
            << (s.contains("validators") ? s["validators"].size() - 1 : 0)
            << (s.value("syncing", false) ? "  (syncing)" : "") << "\n"
            << "mempool    " << str(s, "mempool_txs") << " transactions\n";
  return exit_ok;
}

int run_block(const Global& g, std::uint64_t height) {
  json b;
  if (auto done = fetch(g, "get_block", {{"height", height}}, b)) return *done;
  std::cout << "block " << str(b, "height") << "  " << str(b, "hash") << "\n"
            << "  time        "
            << (b.contains("time_unix_ms") ? format_unix_ms(b["time_unix_ms"].get<std::uint64_t>()) : "-")
            << "\n"
            << "  previous    " << str(b, "previous_block_hash") << "\n"
            << "  proposer    " << str(b, "proposer_index") << "\n"
            << "  log         " << str(b, "log_size") << " entries, root " << str(b, "log_root") << "\n"
            << "  txs         " << str(b, "tx_count") << "\n";
  if (b.contains("txs")) {
    for (const auto& t : b["txs"]) std::cout << "    " << t.get<std::string>() << "\n";
  }
  return exit_ok;
}

int run_tx(const Global& g, const std::string& hash) {
  json t;
  if (auto done = fetch(g, "get_tx", {{"hash", hash}}, t)) return *done;
  std::cout << "tx " << str(t, "hash") << "\n"
            << "  block       " << str(t, "height") << ", position " << str(t, "position") << "\n";
  if (t.contains("body")) {
    const json& b = t["body"];
    std::cout << "  signer      " << str(b, "signer") << " (nonce " << str(b, "nonce") << ")\n";
    if (b.contains("entries")) {
      std::cout << "  anchors     " << b["entries"].size() << " entries, leaves from "
                << str(t, "first_leaf_index") << "\n";
      for (const auto& e : b["entries"]) {
        std::cout << "    " << str(e, "content_hash") << "  " << str(e, "kind");
        if (e.contains("metadata") && e["metadata"].contains("name"))
          std::cout << "  " << str(e["metadata"], "name");
        std::cout << "\n";
      }
    }
  }
  return exit_ok;
}

int run_validators(const Global& g) {
  json set;
  if (auto done = fetch(g, "get_validators", json::object(), set)) return *done;
  for (const auto& v : set["validators"]) {
    std::cout << str(v, "index") << "  " << str(v, "name") << "  " << str(v, "pubkey") << "  "
              << str(v, "p2p") << "\n";
  }
  std::cout << "quorum: " << str(set, "quorum") << " of " << set["validators"].size() << "\n";
  return exit_ok;
}

int run_proof(const Global& g, const ProofOptions& o) {
  json params = json::object();
  if (o.leaf_index) {
    params["leaf_index"] = *o.leaf_index;
  } else {
    params["content_hash"] = o.hash;
  }
  auto r = call(g, "get_inclusion_proof", params);
  if (!r) return fail(r.status());
  if (Status s = write_file_atomic(o.out, r->dump(2) + "\n"); !s.ok()) return fail(s);
  if (g.json) {
    print_json({{"out", o.out},
                {"leaf_index", (*r)["leaf_index"]},
                {"tree_size", (*r)["inclusion"]["tree_size"]},
                {"content_hash", (*r)["entry"]["content_hash"]}});
  } else {
    std::cout << "wrote " << o.out << ": leaf " << (*r)["leaf_index"] << " of a log of "
              << (*r)["inclusion"]["tree_size"] << " entries\n"
              << "verify it offline: cityledger verify --genesis GENESIS --proof " << o.out
              << " [--file FILE]\n";
  }
  return exit_ok;
}

}  // namespace cityledger::cli
