// `cityledger agent`: the data platform's anchoring service (docs/agent.md).
//
// Loop: scan the watched tree; a file that is new or changed and has been
// stable (same size and mtime over one interval) is hashed; up to
// --max-batch of them become one signed transaction, journaled (fsync)
// before it is submitted; once committed the journal says where each file
// landed; once a final checkpoint covers the batch, a proof bundle per file
// is written and the batch is done. After a crash the journal is replayed:
// unfinished batches are resubmitted with the same bytes (idempotent on the
// node), so nothing is anchored twice and nothing is skipped.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "agent_journal.hpp"
#include "cli.hpp"
#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::cli {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> stopping{false};
extern "C" void on_agent_signal(int) { stopping = true; }

constexpr std::uint64_t compact_after_lines = 20'000;
constexpr auto backoff_min = std::chrono::milliseconds(500);
constexpr auto backoff_max = std::chrono::seconds(30);

std::string now_text() {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return format_unix_ms(static_cast<std::uint64_t>(ms));
}

void log_line(const std::string& text) { std::cerr << now_text() << " agent: " << text << std::endl; }

// Sleeps up to `d`, returning early when asked to stop.
void nap(std::chrono::milliseconds d) {
  const auto until = Clock::now() + d;
  while (!stopping && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

struct Seen {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  Clock::time_point since;  // when (size, mtime) was first seen like this
};

class Agent {
 public:
  Agent(const Global& g, const AgentOptions& o, crypto::SecretKey key)
      : g_(g), o_(o), key_(std::move(key)), journal_(o.state), client_(g.rpc_url) {}

  int run();

 private:
  // Each step returns false when the agent should stop (signal), after
  // retrying transient failures with backoff.
  bool connect();
  bool finish(AgentBatch batch);
  std::vector<AgentFile> candidates();
  bool anchor(std::vector<AgentFile> files);
  bool write_proofs(const AgentBatch& batch);
  // Files [first, first + count) of the batch.
  bool write_proofs(const AgentBatch& batch, std::size_t first, std::size_t count);

  // Calls until success or a non-retryable answer; transient failures are
  // logged, counted in the status file, and retried with backoff.
  Result<json> call_retrying(const std::string& what, const std::string& method, const json& params,
                             bool retry_refusals = false);
  void status(const std::string& state, const std::string& detail = "");
  void note_error(const std::string& what);

  const Global& g_;
  const AgentOptions& o_;
  crypto::SecretKey key_;
  AgentJournal journal_;
  rpc::RpcClient client_;
  std::string chain_id_;
  std::uint64_t next_nonce_ = 1;
  std::map<std::string, Seen> seen_;
  std::uint64_t batches_ = 0, anchored_ = 0, errors_ = 0;
  std::string last_error_;
  json last_batch_ = nullptr;
};

Result<json> Agent::call_retrying(const std::string& what, const std::string& method, const json& params,
                                  bool retry_refusals) {
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(backoff_min);
  for (;;) {
    auto r = client_.call(method, params);
    if (r) return r;
    const bool transient = r.status().code() == ErrorCode::unavailable || retry_refusals;
    if (!transient || stopping) return r;
    note_error(what + ": " + r.status().message() + "; retrying in " + std::to_string(delay.count()) + " ms");
    nap(delay);
    if (stopping) return r;
    delay = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(backoff_max), delay * 2);
  }
}

void Agent::note_error(const std::string& what) {
  ++errors_;
  last_error_ = now_text() + " " + what;
  log_line(what);
  status("retrying", what);
}

void Agent::status(const std::string& state, const std::string& detail) {
  if (o_.status_file.empty()) return;
  json s = {{"state", state},
            {"updated", now_text()},
            {"watch", o_.watch},
            {"rpc", g_.rpc_url},
            {"batches", batches_},
            {"files_anchored", anchored_},
            {"files_known", journal_.files().size()},
            {"unfinished_batches", journal_.unfinished().size()},
            {"errors", errors_},
            {"last_error", last_error_},
            {"last_batch", last_batch_}};
  if (!detail.empty()) s["detail"] = detail;
  if (Status st = write_file_atomic(o_.status_file, s.dump(2) + "\n"); !st.ok()) {
    log_line("cannot write the status file: " + st.message());
  }
}

bool Agent::connect() {
  auto st = call_retrying("reaching the node", "status", json::object());
  if (!st) return false;
  chain_id_ = (*st)["chain_id"].get<std::string>();
  if (journal_.chain_id().empty()) {
    if (Status s = journal_.set_chain_id(chain_id_); !s.ok()) {
      log_line(s.message());
      return false;
    }
  } else if (journal_.chain_id() != chain_id_) {
    log_line("the state " + o_.state + " belongs to chain " + journal_.chain_id() + ", the node serves " +
             chain_id_ + "; use another --state for another chain");
    return false;
  }
  auto account =
      call_retrying("reading the account", "get_account", {{"pubkey", key_.public_key().hex()}}, true);
  if (!account) return false;
  next_nonce_ = std::max((*account)["next_nonce"].get<std::uint64_t>(), journal_.max_nonce() + 1);
  return true;
}

// Brings one journaled batch to the end: committed, then proved.
bool Agent::finish(AgentBatch batch) {
  if (!batch.committed) {
    for (;;) {
      auto r = call_retrying("submitting batch " + batch.tx_hash.substr(0, 16), "submit_tx",
                             {{"tx", batch.tx}, {"wait", true}, {"timeout_ms", 60'000}});
      if (stopping) return false;
      if (r && r->contains("height")) break;
      if (r) continue;  // not committed within the wait: ask again
      // Refused. If its nonce went to another transaction of this key, it can
      // never commit: give its files back to the queue.
      auto tx = client_.call("get_tx", {{"hash", batch.tx_hash}});
      if (tx) break;
      const std::string why = r.status().message();
      if (why.find("already used") != std::string::npos) {
        log_line("batch " + batch.tx_hash.substr(0, 16) + " can never commit (" + why + "); its " +
                 std::to_string(batch.files.size()) + " files go back to the queue");
        if (Status s = journal_.add_abandoned(batch.tx_hash, why); !s.ok()) {
          log_line(s.message());
          return false;
        }
        connect();
        return true;
      }
      note_error("the node refused batch " + batch.tx_hash.substr(0, 16) + ": " + why);
      nap(backoff_max);
      if (stopping) return false;
    }
    auto tx =
        call_retrying("reading batch " + batch.tx_hash.substr(0, 16), "get_tx", {{"hash", batch.tx_hash}});
    if (!tx) return false;
    batch.committed = true;
    batch.height = (*tx)["height"].get<std::uint64_t>();
    batch.first_leaf = (*tx)["first_leaf_index"].get<std::uint64_t>();
    if (Status s = journal_.add_committed(batch.tx_hash, batch.height, batch.first_leaf); !s.ok()) {
      log_line(s.message());
      return false;
    }
    ++batches_;
    anchored_ += batch.files.size();
    last_batch_ = {{"tx_hash", batch.tx_hash},
                   {"files", batch.files.size()},
                   {"height", batch.height},
                   {"first_leaf", batch.first_leaf}};
    std::cout << now_text() << " batch " << batch.tx_hash.substr(0, 16) << ": " << batch.files.size()
              << " files anchored at height " << batch.height << ", leaves " << batch.first_leaf << "-"
              << batch.first_leaf + batch.files.size() - 1 << std::endl;
  }
  if (!write_proofs(batch)) return false;
  if (Status s = journal_.add_proved(batch.tx_hash); !s.ok()) {
    log_line(s.message());
    return false;
  }
  status("idle");
  return true;
}

bool Agent::write_proofs(const AgentBatch& batch) {
  if (o_.proof_dir.empty()) return true;
  constexpr std::size_t chunk = 1000;  // files whose bundles are held and written together
  for (std::size_t first = 0; first < batch.files.size(); first += chunk) {
    if (!write_proofs(batch, first, std::min(chunk, batch.files.size() - first))) return false;
  }
  return true;
}

bool Agent::write_proofs(const AgentBatch& batch, std::size_t first, std::size_t count) {
  // Asked for in JSON-RPC batches; what the node cannot answer yet is asked
  // again until it can (or the agent stops).
  std::vector<std::uint64_t> leaves;
  for (std::size_t i = first; i < first + count; ++i)
    leaves.push_back(batch.first_leaf + batch.files[i].index);
  ProofFetch fetch(std::move(leaves));
  const auto asked = Clock::now();
  for (;;) {
    fetch.ask(client_);
    if (fetch.pending.empty() || stopping) break;
    std::string problem;  // the first answer that is not the normal wait
    for (std::size_t k : fetch.pending) {
      // Until a final checkpoint covers the leaf the node says "unavailable":
      // a normal wait of about a block. Only a long one is worth a report.
      const Status& why = fetch.bundles[k].status();
      const bool waiting = why.code() == ErrorCode::unavailable &&
                           why.message().find("no final checkpoint") != std::string::npos;
      if (!waiting || Clock::now() - asked > std::chrono::seconds(30)) {
        problem = "proof for " + batch.files[first + k].path + ": " + why.message();
        break;
      }
    }
    if (!problem.empty()) {
      note_error(problem);
      nap(std::chrono::seconds(2));
    } else {
      nap(std::chrono::milliseconds(100));
    }
  }
  if (stopping) return false;
  std::vector<FileToWrite> files;
  files.reserve(count);
  for (std::size_t k = 0; k < count; ++k) {
    const auto& f = batch.files[first + k];
    Result<json>& bundle = fetch.bundles[k];
    if ((*bundle)["entry"].value("content_hash", "") != f.sha256) {
      note_error("the node's proof for leaf " + std::to_string(fetch.leaves[k]) + " is not for " + f.path);
      return false;
    }
    const fs::path out = fs::path(o_.proof_dir) / (f.path + ".proof.json");
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    files.push_back({out, bundle->dump(2) + "\n"});
    bundle = error(ErrorCode::unavailable, "written");  // its tree is no longer needed
  }
  if (Status s = write_files_atomic(files); !s.ok()) {
    note_error(s.message());
    return false;
  }
  return true;
}

// New or changed files that have been stable for one interval, not in any
// unfinished batch, at most --max-batch.
std::vector<AgentFile> Agent::candidates() {
  std::vector<AgentFile> out;
  std::set<std::string> busy;
  for (const auto& b : journal_.unfinished()) {
    for (const auto& f : b.files) busy.insert(f.path);
  }
  const auto now = Clock::now();
  const fs::path root = fs::path(o_.watch);
  const fs::path state_abs = fs::absolute(o_.state).lexically_normal();
  const fs::path proofs_abs =
      o_.proof_dir.empty() ? fs::path() : fs::absolute(o_.proof_dir).lexically_normal();
  std::map<std::string, Seen> still_seen;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    const std::string name = p.filename().string();
    if (!name.empty() && name[0] == '.') {  // hidden: temp files of uploads, editors
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    const fs::path abs = fs::absolute(p).lexically_normal();
    if (!proofs_abs.empty() && it->is_directory() && abs == proofs_abs) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || abs == state_abs || abs.string().starts_with(state_abs.string() + "."))
      continue;
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) continue;
    const std::string rel = p.lexically_relative(root).generic_string();
    const std::int64_t mtime =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    Seen s{size, mtime, now};
    if (auto old = seen_.find(rel);
        old != seen_.end() && old->second.size == size && old->second.mtime_ns == mtime) {
      s.since = old->second.since;
    }
    still_seen[rel] = s;
    if (busy.contains(rel)) continue;
    auto known = journal_.files().find(rel);
    if (known != journal_.files().end() && known->second.size == size && known->second.mtime_ns == mtime)
      continue;
    // Stable: unchanged since at least one interval ago.
    if (now - s.since < o_.interval || out.size() >= o_.max_batch) continue;
    AgentFile f;
    f.path = rel;
    f.size = size;
    f.mtime_ns = mtime;
    out.push_back(f);
  }
  if (ec) note_error("scanning " + o_.watch + ": " + ec.message());
  seen_ = std::move(still_seen);
  return out;
}

bool Agent::anchor(std::vector<AgentFile> files) {
  pb::TxBody body;
  std::vector<AgentFile> batch;
  std::vector<fs::path> paths;
  for (const auto& f : files) paths.push_back(fs::path(o_.watch) / f.path);
  const auto digests = sha256_files(paths);  // on every core
  for (std::size_t i = 0; i < files.size(); ++i) {
    AgentFile& f = files[i];
    const fs::path& p = paths[i];
    const auto& digest = digests[i];
    if (!digest) {
      log_line("skipping " + f.path + " this round: " + digest.status().message());
      continue;
    }
    // Changed while hashed? Then it is not stable yet: next round.
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != f.size ||
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec != f.mtime_ns) {
      continue;
    }
    f.sha256 = digest->hex();
    auto known = journal_.files().find(f.path);
    if (known != journal_.files().end() && known->second.sha256 == f.sha256) {
      // Touched, same content: remember the new mtime, anchor nothing.
      if (Status s = journal_.add_known(f); !s.ok()) {
        log_line(s.message());
        return false;
      }
      continue;
    }
    f.index = static_cast<std::uint32_t>(batch.size());
    auto* e = body.mutable_anchor()->add_entries();
    e->set_content_hash(proto::to_field(*digest));
    e->set_kind(pb::ENTRY_KIND_FILE);
    e->set_dataset_id(o_.dataset);
    std::map<std::string, std::string> meta = {
        {"name", fs::path(f.path).filename().string()}, {"path", f.path}, {"size", std::to_string(f.size)}};
    for (const auto& [k, v] : meta) {
      auto* m = e->add_metadata();
      m->set_key(k);
      m->set_value(v);
    }
    if (Status s = proto::validate_anchor_entry(*e); !s.ok()) {
      log_line("skipping " + f.path + ": " + s.message());
      body.mutable_anchor()->mutable_entries()->RemoveLast();
      continue;
    }
    batch.push_back(f);
  }
  if (batch.empty()) return true;
  body.set_chain_id(chain_id_);
  body.set_signer(proto::to_field(key_.public_key()));
  body.set_nonce(next_nonce_++);
  const pb::Transaction tx = proto::sign_transaction(body, key_);
  AgentBatch b;
  b.tx_hash = proto::tx_hash(tx).hex();
  b.tx = to_hex(as_bytes(proto::encode(tx)));
  b.nonce = body.nonce();
  b.files = std::move(batch);
  // Journaled before it can reach the node: after a crash, these exact bytes
  // are submitted again, never a second transaction for the same files.
  if (Status s = journal_.add_pending(b); !s.ok()) {
    log_line("cannot journal a batch: " + s.message());
    return false;
  }
  status("anchoring", std::to_string(b.files.size()) + " files");
  return finish(std::move(b));
}

int Agent::run() {
  if (Status s = journal_.open(); !s.ok()) return fail("agent: " + s.message());
  if (journal_.torn_lines() > 0) log_line("the journal's last line was torn by a crash; ignored");
  log_line("watching " + o_.watch + " as " + key_.public_key().hex() + " via " + g_.rpc_url + "; state " +
           o_.state + " (" + std::to_string(journal_.files().size()) + " files known, " +
           std::to_string(journal_.unfinished().size()) + " batches to finish)");
  if (!connect()) return stopping ? exit_ok : fail("agent: cannot start (see above)");
  for (const auto& b : journal_.unfinished()) {
    log_line("finishing batch " + b.tx_hash.substr(0, 16) + " from before the restart (" +
             std::to_string(b.files.size()) + " files)");
    if (!finish(b)) return stopping ? exit_ok : exit_error;
  }
  status("idle");
  while (!stopping) {
    auto files = candidates();
    if (!files.empty()) {
      if (!anchor(std::move(files))) return stopping ? exit_ok : exit_error;
      if (Status s = journal_.compact_if_longer_than(compact_after_lines); !s.ok()) log_line(s.message());
      continue;  // more may be waiting
    }
    if (o_.once && std::all_of(seen_.begin(), seen_.end(), [&](const auto& kv) {
          auto k = journal_.files().find(kv.first);
          return k != journal_.files().end() && k->second.size == kv.second.size &&
                 k->second.mtime_ns == kv.second.mtime_ns;
        })) {
      break;  // --once: everything there is anchored
    }
    nap(std::chrono::duration_cast<std::chrono::milliseconds>(o_.interval));
  }
  status("stopped");
  log_line("stopped");
  return exit_ok;
}

}  // namespace

int run_agent(const Global& g, const AgentOptions& o) {
  std::error_code ec;
  if (!fs::is_directory(o.watch, ec)) return fail("agent: " + o.watch + " is not a directory");
  if (o.max_batch == 0 || o.max_batch > 10'000) return fail("agent: --max-batch must be 1..10000");
  auto key = crypto::read_key_file(o.key);
  if (!key) return fail(key.status());
  std::signal(SIGINT, on_agent_signal);
  std::signal(SIGTERM, on_agent_signal);
  Agent agent(g, o, std::move(*key));
  return agent.run();
}

}  // namespace cityledger::cli
