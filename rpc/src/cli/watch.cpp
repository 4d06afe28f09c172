// `cityledger watch`: an auditor's monitor of the log's append-only promise.
//
// Keeps the last verified checkpoint and the validator-set changes verified
// with it in a state file. Each poll fetches every node's newest checkpoint
// and the set changes in charge by its height (get_validator_sets), follows
// those from genesis (audit::follow_validator_sets: each change approved by a
// quorum of the set before it), requires them to tell the history already
// kept, counts the checkpoint's signatures against the set in charge at its
// height, and checks it against the kept checkpoint: same size must mean same
// root; a larger one must come with a valid RFC 9162 consistency proof from
// the kept one; a smaller one (a node that lags) must be consistent with it
// the other way. Any failure is a fork or a rewrite of history: reported
// loudly, exit 1.
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include "audit/genesis.hpp"
#include "audit/validator_sets.hpp"
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
  json raw;             // {body, signatures}
  json validator_sets;  // the set changes in charge by body.height, verified from genesis
};

// The checkpoint's body parses and names this chain; `sets` (the set changes
// in charge by its height) follow from genesis and agree with `kept_sets`
// (verified before); and the checkpoint carries 2f+1 valid signatures of the
// set in charge at its height.
Result<Verified> verify_checkpoint(const json& cp, const json& sets, const json& kept_sets,
                                   const audit::Genesis& genesis) {
  if (!cp.is_object() || !cp.contains("body") || !cp["body"].is_string()) {
    return error(ErrorCode::invalid_argument, "checkpoint lacks body or signatures");
  }
  auto body = crypto::CheckpointBody::parse(cp["body"].get<std::string>());
  if (!body) return error(ErrorCode::invalid_argument, "checkpoint body: " + body.status().message());
  auto schedule = audit::follow_validator_sets(sets, genesis, body->height);
  if (!schedule) {
    return error(ErrorCode::invalid_argument,
                 "its validator-set changes do not verify from genesis: " + schedule.status().message());
  }
  if (Status s = audit::check_same_set_history(kept_sets, sets, body->height); !s.ok()) return s;
  auto counted = audit::count_checkpoint_signatures(cp, genesis, *schedule);
  if (!counted) return counted.status();
  return Verified{counted->body, {{"body", counted->body_text}, {"signatures", cp["signatures"]}}, sets};
}

// The set changes in charge by `height`, from the node that served the checkpoint.
Result<json> fetch_validator_sets(rpc::RpcClient& client, std::uint64_t height) {
  auto answer = client.call("get_validator_sets", {{"height", height}});
  if (!answer) return error(ErrorCode::unavailable, "get_validator_sets: " + answer.status().message());
  if (!answer->is_object() || !answer->contains("validator_sets"))
    return error(ErrorCode::invalid_argument, "get_validator_sets answered without validator_sets");
  return (*answer)["validator_sets"];
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
    auto text = read_text_file(o.state, 16u << 20);
    if (!text) return fail("watch: " + text.status().message());
    const auto state = json::parse(*text, nullptr, false);
    if (state.is_discarded() || !state.is_object() || !state.contains("checkpoint"))
      return fail("watch: " + o.state + " is not a watch state file");
    // A state file from before set changes were kept has none: genesis's set.
    const json sets = state.contains("validator_sets") ? state["validator_sets"] : json::array();
    auto v = verify_checkpoint(state["checkpoint"], sets, json::array(), *genesis);
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
      auto height = cp->is_object() && cp->contains("body") && (*cp)["body"].is_string()
                        ? crypto::CheckpointBody::parse((*cp)["body"].get<std::string>())
                        : Result<crypto::CheckpointBody>(error(ErrorCode::invalid_argument, "no body"));
      if (!height)
        return alarm(urls[i], "served a checkpoint that does not parse: " + height.status().message());
      auto sets = fetch_validator_sets(clients[i], height->height);
      if (!sets && sets.status().code() == ErrorCode::unavailable) {
        std::cerr << "cityledger watch: " << urls[i] << ": " << sets.status().message() << "\n";
        continue;
      }
      if (!sets) return alarm(urls[i], sets.status().message());
      ++answered;
      auto v = verify_checkpoint(*cp, *sets, kept ? kept->validator_sets : json::array(), *genesis);
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
        // The same log: keep the newer checkpoint only when it brings set
        // changes the kept one predates, so that they are kept (and compared
        // from now on) even while nothing is anchored.
        if (v->body.tree_size == kept->body.tree_size &&
            !(v->body.height > kept->body.height && v->validator_sets.size() > kept->validator_sets.size())) {
          continue;
        }
        kept = std::move(*v);
      } else {
        // A lagging node: its older checkpoint must be a prefix of ours.
        Status s = check_extends(clients[i], v->body, kept->body);
        if (s.code() == ErrorCode::unavailable) continue;
        if (!s.ok()) return alarm(urls[i], s.message());
        continue;
      }
      if (Status s = write_file_atomic(
              o.state,
              json{{"checkpoint", kept->raw}, {"validator_sets", kept->validator_sets}}.dump(2) + "\n");
          !s.ok()) {
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
