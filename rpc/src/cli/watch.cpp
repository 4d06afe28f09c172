// `cityledger watch`: an auditor's monitor of the log's append-only promise.
//
// Keeps the last verified checkpoint in a state file. Each poll fetches every
// node's newest checkpoint, checks its 2f+1 signatures against genesis, and
// checks it against the kept one: same size must mean same root; a larger
// one must come with a valid RFC 9162 consistency proof from the kept one; a
// smaller one (a node that lags) must be consistent with it the other way.
// Any failure is a fork or a rewrite of history: reported loudly, exit 1.
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include "audit/genesis.hpp"
#include "cli.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"

namespace cityledger::cli {

using nlohmann::json;

namespace {

std::atomic<bool> stop_requested{false};
extern "C" void on_stop_signal(int) { stop_requested = true; }

struct Verified {
  crypto::CheckpointBody body;
  json raw;  // {body, signatures}
};

// The checkpoint's body parses, names this chain, and carries 2f+1 valid
// signatures of the genesis validator set.
Result<Verified> verify_checkpoint(const json& cp, const audit::Genesis& genesis) {
  if (!cp.is_object() || !cp.contains("body") || !cp["body"].is_string() || !cp.contains("signatures") ||
      !cp["signatures"].is_array()) {
    return error(ErrorCode::invalid_argument, "checkpoint lacks body or signatures");
  }
  const std::string text = cp["body"].get<std::string>();
  auto body = crypto::CheckpointBody::parse(text);
  if (!body) return error(ErrorCode::invalid_argument, "checkpoint body: " + body.status().message());
  if (body->origin != genesis.chain_id) {
    return error(ErrorCode::invalid_argument,
                 "checkpoint is for chain " + body->origin + ", not " + genesis.chain_id);
  }
  std::vector<crypto::CheckpointSignature> sigs;
  for (const auto& s : cp["signatures"]) {
    if (!s.is_object() || !s.contains("validator") || !s.contains("signature") ||
        !s["validator"].is_string() || !s["signature"].is_string())
      continue;
    auto key = Hash32::from_hex(s["validator"].get<std::string>());
    auto sig = crypto::Signature::from_hex(s["signature"].get<std::string>());
    if (key && sig) sigs.push_back({*key, *sig});
  }
  std::vector<crypto::PublicKey> members;
  for (const auto& v : genesis.validators) members.push_back(v.pubkey);
  const std::size_t valid = crypto::count_valid_checkpoint_signatures(text, sigs, members);
  const std::size_t quorum = crypto::checkpoint_quorum(members.size());
  if (valid < quorum) {
    return error(ErrorCode::permission_denied, "checkpoint has " + std::to_string(valid) +
                                                   " valid validator signatures; the quorum is " +
                                                   std::to_string(quorum));
  }
  return Verified{*body, {{"body", text}, {"signatures", cp["signatures"]}}};
}

std::vector<Hash32> parse_path(const json& proof) {
  std::vector<Hash32> path;
  if (!proof.contains("path") || !proof["path"].is_array()) return path;
  for (const auto& h : proof["path"]) {
    if (!h.is_string()) return {};
    auto hash = Hash32::from_hex(h.get<std::string>());
    if (!hash) return {};
    path.push_back(*hash);
  }
  return path;
}

// Checks that `newer` extends `older` with a consistency proof fetched from
// `client`. Returns the reason when it does not (an alarm), or an
// unavailable status when the node could not be asked.
Status check_extends(rpc::RpcClient& client, const crypto::CheckpointBody& older,
                     const crypto::CheckpointBody& newer) {
  if (older.tree_size == newer.tree_size) {
    if (older.root == newer.root) return {};
    return error(ErrorCode::corruption, "two final checkpoints of size " + std::to_string(older.tree_size) +
                                            " have different roots: " + older.root.hex() + " and " +
                                            newer.root.hex());
  }
  if (older.tree_size == 0) return {};  // everything extends the empty log
  auto proof =
      client.call("get_consistency_proof", {{"first", older.tree_size}, {"second", newer.tree_size}});
  if (!proof) return error(ErrorCode::unavailable, "consistency proof: " + proof.status().message());
  const auto path = parse_path(*proof);
  if (!crypto::merkle::verify_consistency(older.tree_size, newer.tree_size, older.root, newer.root, path)) {
    return error(ErrorCode::corruption, "the log of size " + std::to_string(newer.tree_size) + " (root " +
                                            newer.root.hex() + ") does not extend the one of size " +
                                            std::to_string(older.tree_size) + " (root " + older.root.hex() +
                                            "): history was rewritten");
  }
  return {};
}

}  // namespace

int run_watch(const Global& g, const WatchOptions& o) {
  auto genesis = audit::Genesis::load(o.genesis);
  if (!genesis) return fail("watch: genesis " + o.genesis + ": " + genesis.status().message());
  std::vector<std::string> urls = o.nodes.empty() ? std::vector<std::string>{g.rpc_url} : o.nodes;

  std::optional<Verified> kept;
  if (std::filesystem::exists(o.state)) {
    auto text = read_text_file(o.state, 1u << 20);
    if (!text) return fail("watch: " + text.status().message());
    const auto state = json::parse(*text, nullptr, false);
    if (state.is_discarded() || !state.contains("checkpoint"))
      return fail("watch: " + o.state + " is not a watch state file");
    auto v = verify_checkpoint(state["checkpoint"], *genesis);
    if (!v)
      return fail("watch: the checkpoint kept in " + o.state + " does not verify: " + v.status().message());
    kept = std::move(*v);
  }

  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::vector<rpc::RpcClient> clients;
  for (const auto& u : urls) clients.emplace_back(u, rpc::ClientOptions{std::chrono::milliseconds(10'000)});

  auto alarm = [&](const std::string& url, const std::string& why) {
    if (g.json) {
      std::cout << json{{"event", "alarm"}, {"node", url}, {"reason", why}}.dump() << std::endl;
    } else {
      std::cout << "ALARM  " << url << ": " << why << std::endl;
    }
    return exit_verify_failed;
  };

  while (!stop_requested) {
    std::size_t answered = 0;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      auto cp = clients[i].call("get_checkpoint");
      if (!cp) {
        std::cerr << "cityledger watch: " << urls[i] << ": " << cp.status().message() << "\n";
        continue;
      }
      ++answered;
      auto v = verify_checkpoint(*cp, *genesis);
      if (!v) return alarm(urls[i], "served a checkpoint that does not verify: " + v.status().message());
      if (!kept) {
        kept = std::move(*v);
      } else if (v->body.tree_size >= kept->body.tree_size) {
        Status s = check_extends(clients[i], kept->body, v->body);
        if (s.code() == ErrorCode::unavailable) {
          std::cerr << "cityledger watch: " << urls[i] << ": " << s.message() << "\n";
          continue;
        }
        if (!s.ok()) return alarm(urls[i], s.message());
        if (v->body.tree_size == kept->body.tree_size) continue;
        kept = std::move(*v);
      } else {
        // A lagging node: its older checkpoint must be a prefix of ours.
        Status s = check_extends(clients[i], v->body, kept->body);
        if (s.code() == ErrorCode::unavailable) continue;
        if (!s.ok()) return alarm(urls[i], s.message());
        continue;
      }
      if (Status s = write_file_atomic(o.state, json{{"checkpoint", kept->raw}}.dump(2) + "\n"); !s.ok()) {
        return fail(s);
      }
      if (g.json) {
        std::cout << json{{"event", "checkpoint"},
                          {"node", urls[i]},
                          {"tree_size", kept->body.tree_size},
                          {"height", kept->body.height},
                          {"root", kept->body.root.hex()}}
                         .dump()
                  << std::endl;
      } else {
        std::cout << "ok  size " << kept->body.tree_size << "  height " << kept->body.height << "  root "
                  << kept->body.root.hex() << "  (" << urls[i] << ")" << std::endl;
      }
    }
    if (o.once) {
      if (answered == 0) return fail("watch: no node answered with a checkpoint");
      if (!g.json) {
        std::cout << "log is consistent: size " << kept->body.tree_size << ", height " << kept->body.height
                  << ", root " << kept->body.root.hex() << "\n";
      }
      break;
    }
    for (int t = 0; t < static_cast<int>(o.interval_s * 10) && !stop_requested; ++t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return exit_ok;
}

}  // namespace cityledger::cli
