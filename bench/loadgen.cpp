// cityledger_loadgen: the network benchmark's load generator
// (scripts/bench.sh --validators N --batch K --duration S).
//
// Pre-signs anchor transactions of K entries each on one thread, submits them
// from --workers threads, up to --per-call per submit_txs call (closed loop:
// at most --inflight submitted and not yet committed), and reads the results from the ledger itself:
// committed transactions and anchors per second over the steady-state window, from the blocks' own
// timestamps; latency from submission to the block that commits it and to the first final checkpoint covering
// it, as the node's WebSocket notifications tell (--monitor ws) or as seen by polling (--monitor poll).
// Prints one JSON object.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"
#include "crypto/signing.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"
#include "rpc/client.hpp"

using namespace cityledger;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::vector<std::string> rpc;
  std::vector<std::string> keys;
  std::size_t batch = 1;
  double duration_s = 20;
  double warmup_s = 3;
  std::size_t inflight = 2000;
  std::size_t workers = 4;
  std::size_t per_call = 100;  // transactions per submit_txs call; 1: submit_tx
  double rate = 0;             // transactions per second, open loop; 0: as fast as the in-flight bound allows
  double linger_ms = 0;        // open loop: a call waits this long after its first transaction is due
  // --proofs: get_inclusion_proof calls per request (a JSON-RPC batch if > 1).
  std::size_t proofs_per_call = 1;
  // How commits are observed: ws (the node's notifications) or poll.
  std::string monitor = "ws";
};

// CPU seconds this process used so far (user + system): the load's own share
// of the machine the validators run on.
double process_cpu_s() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Microseconds per BIP340 sign and verify, measured here and now: the
// fastest of 7 rounds of 500 each, so a moment of interference (a validator's
// heartbeat, another process) does not lower the ceiling, and with it the
// bar the run is measured against.
std::pair<double, double> signature_costs(const crypto::SecretKey& key) {
  const Hash32 digest = crypto::sha256(std::string_view("ceiling"));
  constexpr int n = 500;
  constexpr int rounds = 7;
  double sign_us = 1e9, verify_us = 1e9;
  int ok = 0;
  crypto::Signature sig{};
  for (int round = 0; round < rounds; ++round) {
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) sig = key.sign(digest);
    sign_us = std::min(sign_us, std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n);
    t0 = Clock::now();
    for (int i = 0; i < n; ++i) ok += crypto::verify_uncached(key.public_key(), digest, sig) ? 1 : 0;
    verify_us = std::min(verify_us, std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n);
  }
  if (ok != n * rounds) std::cerr << "loadgen: signature self-check failed\n";
  return {sign_us, verify_us};
}

class Load {
 public:
  Load(Options o, std::vector<crypto::SecretKey> keys) : o_(std::move(o)) {
    for (auto& k : keys) signers_.push_back(Signer{std::move(k), 1, {}});
  }

  int run();

 private:
  void sign_loop(std::string chain_id);
  void submit_loop(std::size_t worker);
  void poll_monitor();
  void ws_monitor();
  bool record_block(rpc::RpcClient& client, std::uint64_t h, Clock::time_point seen);
  void record_checkpoint(std::uint64_t covered, Clock::time_point seen);

  Options o_;
  // One per --key: its own nonces and its own queue of signed transactions;
  // worker w submits signer w % signers' transactions to validator w % rpc.
  struct Signer {
    crypto::SecretKey key;
    std::uint64_t nonce = 1;
    std::deque<std::pair<std::string, Hash32>> queue;  // hex tx, hash
  };
  std::vector<Signer> signers_;
  std::atomic<bool> stop_{false};

  std::mutex mutex_;
  std::condition_variable cv_;
  std::unordered_map<Hash32, Clock::time_point, Hash32Hasher> submitted_;
  std::size_t inflight_ = 0;
  std::uint64_t sent_ = 0;  // for --rate: the i-th submission is due at start + i / rate
  Clock::time_point start_ = Clock::now();
  std::uint64_t refused_ = 0;
  std::uint64_t retried_ = 0;
  std::string last_refusal_;

  // Filled by the monitor.
  std::vector<double> commit_ms_;      // submission -> block seen committed
  std::vector<double> checkpoint_ms_;  // submission -> covering final checkpoint seen
  std::map<std::uint64_t, std::vector<Clock::time_point>> awaiting_checkpoint_;  // height -> submit times
  struct BlockStat {
    std::uint64_t time_ms = 0;
    std::size_t txs = 0;
    Clock::time_point seen;
  };
  std::map<std::uint64_t, BlockStat> blocks_;
};

void Load::sign_loop(std::string chain_id) {
  std::mt19937_64 rng(std::random_device{}());
  const std::size_t per_signer = (4 * o_.inflight + 1000) / signers_.size() + 1;
  for (std::size_t next = 0; !stop_; next = (next + 1) % signers_.size()) {
    Signer& signer = signers_[next];
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] {
        return stop_ || std::any_of(signers_.begin(), signers_.end(),
                                    [&](const Signer& x) { return x.queue.size() < per_signer; });
      });
      if (stop_) return;
      if (signer.queue.size() >= per_signer) continue;
    }
    pb::TxBody body;
    body.set_chain_id(chain_id);
    body.set_signer(proto::to_field(signer.key.public_key()));
    body.set_nonce(signer.nonce++);
    for (std::size_t i = 0; i < o_.batch; ++i) {
      auto* e = body.mutable_anchor()->add_entries();
      std::array<std::uint64_t, 4> r{rng(), rng(), rng(), rng()};
      e->set_content_hash(std::string(reinterpret_cast<const char*>(r.data()), 32));
      e->set_kind(pb::ENTRY_KIND_FILE);
    }
    const pb::Transaction tx = proto::sign_transaction(body, signer.key);
    auto item = std::make_pair(to_hex(as_bytes(proto::encode(tx))), proto::tx_hash(tx));
    std::lock_guard lock(mutex_);
    signer.queue.push_back(std::move(item));
    cv_.notify_all();
  }
}

void Load::submit_loop(std::size_t worker) {
  rpc::RpcClient client(o_.rpc[worker % o_.rpc.size()],
                        rpc::ClientOptions{std::chrono::milliseconds(10'000)});
  std::vector<std::pair<std::string, Hash32>> items;
  auto& signed_ = signers_[worker % signers_.size()].queue;
  while (!stop_) {
    items.clear();
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || (!signed_.empty() && inflight_ < o_.inflight); });
      if (stop_) return;
      // Open loop: every transaction has its scheduled time, whatever the
      // network's state, so latency is measured at a fixed offered rate; a
      // call carries the next one at its time plus any others already due
      // (up to --per-call), as a client that batches what it has would.
      // Latency counts from each transaction's scheduled time, so a client
      // falling behind its schedule shows. Closed loop: as many as the
      // in-flight bound allows, up to --per-call.
      std::vector<Clock::time_point> due;
      if (o_.rate > 0) {
        auto due_at = [&](std::uint64_t index) {
          return start_ + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(index) / o_.rate));
        };
        due.push_back(due_at(sent_++));
        items.push_back(std::move(signed_.front()));
        signed_.pop_front();
        lock.unlock();
        std::this_thread::sleep_until(due.front() +
                                      std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double, std::milli>(o_.linger_ms)));
        lock.lock();
        const auto now = Clock::now();
        while (items.size() < o_.per_call && !signed_.empty() && due_at(sent_) <= now) {
          due.push_back(due_at(sent_++));
          items.push_back(std::move(signed_.front()));
          signed_.pop_front();
        }
      } else {
        const std::size_t room = std::min(o_.per_call, o_.inflight - inflight_);
        while (items.size() < room && !signed_.empty()) {
          items.push_back(std::move(signed_.front()));
          signed_.pop_front();
        }
      }
      inflight_ += items.size();
      const auto now = Clock::now();
      for (std::size_t i = 0; i < items.size(); ++i) submitted_[items[i].second] = due.empty() ? now : due[i];
      cv_.notify_all();
    }
    // One signer: a transaction refused for now (mempool full, nonce too far
    // ahead of the committed one) is sent again, or its nonce would be a hole
    // no later transaction gets past. Any other refusal is counted.
    std::vector<std::string> refusals(items.size());
    std::vector<bool> retry(items.size(), false);
    auto transient = [](ErrorCode code, const std::string& message) {
      return code == ErrorCode::unavailable || message.find("too far ahead") != std::string::npos;
    };
    if (o_.per_call == 1) {
      auto r = client.call("submit_tx", {{"tx", items[0].first}});
      if (!r) {
        refusals[0] = r.status().message();
        retry[0] = transient(r.status().code(), refusals[0]);
      }
    } else {
      json txs = json::array();
      for (const auto& item : items) txs.push_back(item.first);
      auto r = client.call("submit_txs", {{"txs", std::move(txs)}});
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (!r) {
          refusals[i] = r.status().message();
          retry[i] = transient(r.status().code(), refusals[i]);
        } else if (const auto& one = (*r)["results"].at(i); one.contains("error")) {
          refusals[i] = one["error"].value("message", std::string("refused"));
          const auto code = rpc::error_code_from_id(one["error"].value("code", std::string()));
          retry[i] = transient(code.value_or(ErrorCode::internal), refusals[i]);
        }
      }
    }
    bool backed_off = false;
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = items.size(); i-- > 0;) {
        if (refusals[i].empty()) continue;
        submitted_.erase(items[i].second);
        --inflight_;
        if (retry[i]) {
          ++retried_;
          signed_.push_front(std::move(items[i]));  // backwards: the order is kept
          backed_off = true;
        } else {
          ++refused_;
          last_refusal_ = refusals[i];
        }
      }
      cv_.notify_all();
    }
    if (backed_off) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Block h is committed, as the client learned at `seen`: its transactions'
// latencies. False when get_block failed.
bool Load::record_block(rpc::RpcClient& client, std::uint64_t h, Clock::time_point seen) {
  auto block = client.call("get_block", {{"height", h}});
  if (!block) return false;
  std::lock_guard lock(mutex_);
  blocks_[h] = {(*block)["time_unix_ms"].get<std::uint64_t>(), (*block)["txs"].size(), seen};
  for (const auto& t : (*block)["txs"]) {
    auto hash = Hash32::from_hex(t.get<std::string>());
    if (!hash) continue;
    auto it = submitted_.find(*hash);
    if (it == submitted_.end()) continue;
    commit_ms_.push_back(std::chrono::duration<double, std::milli>(seen - it->second).count());
    awaiting_checkpoint_[h].push_back(it->second);
    submitted_.erase(it);
    --inflight_;
  }
  cv_.notify_all();
  return true;
}

void Load::record_checkpoint(std::uint64_t covered, Clock::time_point seen) {
  std::lock_guard lock(mutex_);
  while (!awaiting_checkpoint_.empty() && awaiting_checkpoint_.begin()->first <= covered) {
    for (const auto& t : awaiting_checkpoint_.begin()->second) {
      checkpoint_ms_.push_back(std::chrono::duration<double, std::milli>(seen - t).count());
    }
    awaiting_checkpoint_.erase(awaiting_checkpoint_.begin());
  }
}

// --monitor poll: status, get_block and get_checkpoint every 10 ms. A block
// is "seen" up to 10 ms and three calls after it was committed.
void Load::poll_monitor() {
  rpc::RpcClient client(o_.rpc[0]);
  std::uint64_t height = 0;
  while (!stop_) {
    auto st = client.call("status");
    if (st) {
      const auto top = (*st)["height"].get<std::uint64_t>();
      for (std::uint64_t h = height + 1; h <= top && !stop_; ++h) {
        if (!record_block(client, h, Clock::now())) break;
        height = h;
      }
      auto cp = client.call("get_checkpoint");
      if (cp && cp->contains("height")) record_checkpoint((*cp)["height"].get<std::uint64_t>(), Clock::now());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// --monitor ws (the default): the node's WebSocket topics "blocks" and
// "checkpoints" (docs/rpc.md), published once a block is durably stored or a
// checkpoint is final. A block counts as seen when its notification arrives;
// its transactions are then read with get_block. Reconnects (and catches up
// with status) if the WebSocket drops.
void Load::ws_monitor() {
  namespace beast = boost::beast;
  namespace websocket = beast::websocket;
  namespace net = boost::asio;
  auto endpoint = rpc::parse_url(o_.rpc[0]);
  if (!endpoint) {
    std::cerr << "loadgen: " << endpoint.status().message() << "\n";
    return;
  }
  rpc::RpcClient client(o_.rpc[0]);
  std::uint64_t height = 0;
  auto catch_up = [&](std::uint64_t top, Clock::time_point seen) {
    for (std::uint64_t h = height + 1; h <= top && !stop_; ++h) {
      if (!record_block(client, h, h == top ? seen : Clock::now())) return;
      height = h;
    }
  };
  while (!stop_) {
    net::io_context io;
    websocket::stream<beast::tcp_stream> ws(io);
    try {
      net::ip::tcp::resolver resolver(io);
      beast::get_lowest_layer(ws).connect(resolver.resolve(endpoint->host, std::to_string(endpoint->port)));
      beast::get_lowest_layer(ws).socket().set_option(net::ip::tcp::no_delay(true));
      ws.handshake(endpoint->host + ":" + std::to_string(endpoint->port), "/ws");
      ws.write(net::buffer(
          std::string(R"({"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"topic":"blocks"}})")));
      ws.write(net::buffer(
          std::string(R"({"jsonrpc":"2.0","id":2,"method":"subscribe","params":{"topic":"checkpoints"}})")));
    } catch (const std::exception& e) {
      std::cerr << "loadgen: WebSocket to " << o_.rpc[0] << ": " << e.what() << "\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    // What was committed before the subscription took effect.
    if (auto st = client.call("status")) catch_up((*st)["height"].get<std::uint64_t>(), Clock::now());
    beast::flat_buffer buffer;
    while (!stop_) {
      bool done = false;
      beast::error_code ec;
      ws.async_read(buffer, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
      io.restart();
      while (!done && !stop_) io.run_for(std::chrono::milliseconds(100));
      if (!done || ec) break;
      const auto seen = Clock::now();
      json message = json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
      buffer.consume(buffer.size());
      if (!message.is_object() || message.value("method", std::string()) != "subscription") continue;
      const json& params = message["params"];
      const std::string topic = params.value("topic", std::string());
      const std::uint64_t at = params.value("result", json::object()).value("height", std::uint64_t{0});
      if (topic == "blocks") catch_up(at, seen);
      if (topic == "checkpoints") record_checkpoint(at, seen);
    }
  }
}

int Load::run() {
  rpc::RpcClient client(o_.rpc[0]);
  auto st = client.call("status");
  if (!st) {
    std::cerr << "loadgen: " << st.status().message() << "\n";
    return 2;
  }
  for (auto& signer : signers_) {
    auto account = client.call("get_account", {{"pubkey", signer.key.public_key().hex()}});
    if (!account) {
      std::cerr << "loadgen: " << account.status().message() << "\n";
      return 2;
    }
    signer.nonce = account->value("next_pending_nonce", std::uint64_t{1});
  }
  const auto [sign_us, verify_us] = signature_costs(signers_.front().key);

  std::vector<std::thread> threads;
  threads.reserve(2 + o_.workers);
  threads.emplace_back([&] { sign_loop((*st)["chain_id"].get<std::string>()); });
  threads.emplace_back([&] {
    if (o_.monitor == "poll") {
      poll_monitor();
    } else {
      ws_monitor();
    }
  });
  for (std::size_t w = 0; w < o_.workers; ++w) threads.emplace_back([this, w] { submit_loop(w); });

  const auto start = Clock::now();
  start_ = start;
  std::this_thread::sleep_for(std::chrono::duration<double>(o_.warmup_s));
  std::size_t commit_from, checkpoint_from;
  Clock::time_point window_start = Clock::now();
  {
    std::lock_guard lock(mutex_);
    commit_from = commit_ms_.size();
    checkpoint_from = checkpoint_ms_.size();
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o_.duration_s));
  const Clock::time_point window_end = Clock::now();
  stop_ = true;
  cv_.notify_all();
  for (auto& t : threads) t.join();

  // Throughput from the ledger: blocks first seen inside the window, timed by
  // their own header timestamps (the first one's time is the window's start).
  std::vector<std::pair<std::uint64_t, BlockStat>> window;
  for (const auto& [h, b] : blocks_) {
    if (b.seen >= window_start && b.seen <= window_end) window.emplace_back(h, b);
  }
  std::size_t txs = 0;
  for (std::size_t i = 1; i < window.size(); ++i) txs += window[i].second.txs;
  const double span_s =
      window.size() >= 2
          ? static_cast<double>(window.back().second.time_ms - window.front().second.time_ms) / 1000.0
          : 0.0;
  const double tx_per_s = span_s > 0 ? static_cast<double>(txs) / span_s : 0.0;
  std::vector<double> commits(commit_ms_.begin() + static_cast<std::ptrdiff_t>(commit_from),
                              commit_ms_.end());
  std::vector<double> checkpoints(checkpoint_ms_.begin() + static_cast<std::ptrdiff_t>(checkpoint_from),
                                  checkpoint_ms_.end());
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  const double validators = static_cast<double>((*st)["validators"].size());
  const double ceiling = cores * 1e6 / (validators * verify_us + sign_us);
  json out = {{"validators", static_cast<int>(validators)},
              {"batch", o_.batch},
              {"duration_s", o_.duration_s},
              {"warmup_s", o_.warmup_s},
              {"inflight", o_.inflight},
              {"per_call", o_.per_call},
              {"monitor", o_.monitor},
              {"signers", signers_.size()},
              {"offered_tx_per_s", o_.rate},
              {"linger_ms", o_.linger_ms},
              {"blocks", window.size() > 0 ? window.size() - 1 : 0},
              {"txs", txs},
              {"tx_per_s", tx_per_s},
              {"anchors_per_s", tx_per_s * static_cast<double>(o_.batch)},
              {"p50_commit_ms", percentile(commits, 0.50)},
              {"p99_commit_ms", percentile(commits, 0.99)},
              {"p50_checkpoint_ms", percentile(checkpoints, 0.50)},
              {"p99_checkpoint_ms", percentile(checkpoints, 0.99)},
              {"refused", refused_},
              {"retried", retried_},
              {"sign_us", sign_us},
              {"verify_us", verify_us},
              {"cores", static_cast<int>(cores)},
              {"ceiling_tx_per_s", ceiling},
              {"fraction_of_ceiling", ceiling > 0 ? tx_per_s / ceiling : 0.0},
              {"elapsed_s", ms_since(start) / 1000.0},
              {"loadgen_cpu_s", process_cpu_s()}};
  if (!last_refusal_.empty()) out["last_refusal"] = last_refusal_;
  std::cout << out.dump() << std::endl;
  return 0;
}

// --proofs: auditors' reads. Every worker asks node rpc[0] for inclusion
// proofs of uniformly random leaves of the current log, back to back, for the
// measured window; prints requests/s and latency.
int proof_load(const Options& o) {
  rpc::RpcClient client(o.rpc[0]);
  auto st = client.call("status");
  if (!st) {
    std::cerr << "loadgen: " << st.status().message() << "\n";
    return 2;
  }
  const auto tree_size = (*st)["tree_size"].get<std::uint64_t>();
  if (tree_size == 0) {
    std::cerr << "loadgen: the log is empty; anchor something first\n";
    return 2;
  }
  std::atomic<bool> measuring{false}, stop{false};
  std::mutex mutex;
  std::vector<double> latencies;
  std::uint64_t failures = 0;
  std::string last_failure;
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < o.workers; ++w) {
    threads.emplace_back([&, w] {
      rpc::RpcClient c(o.rpc[0]);
      std::mt19937_64 rng(w * 7919 + 1);
      std::vector<double> mine;
      std::uint64_t failed = 0;
      std::string why;
      std::vector<rpc::BatchCall> calls(o.proofs_per_call, rpc::BatchCall{"get_inclusion_proof"});
      while (!stop) {
        const auto t0 = Clock::now();
        std::uint64_t bad = 0;
        if (o.proofs_per_call == 1) {
          auto r = c.call("get_inclusion_proof", {{"leaf_index", rng() % tree_size}});
          if (!r || !r->contains("inclusion")) {
            ++bad;
            why = r ? std::string("no inclusion in the answer") : r.status().message();
          }
        } else {
          // Several proofs in one JSON-RPC batch, as `cityledger anchor
          // --proof-dir` and the agent ask for them.
          for (auto& call : calls) call.params = {{"leaf_index", rng() % tree_size}};
          auto r = c.call_batch(calls);
          if (!r) {
            bad = calls.size();
            why = r.status().message();
          } else {
            for (const auto& one : *r) {
              if (one && one->contains("inclusion")) continue;
              ++bad;
              why = one ? std::string("no inclusion in the answer") : one.status().message();
            }
          }
        }
        if (!measuring) continue;
        if (bad == 0) {
          mine.push_back(ms_since(t0));
        } else {
          failed += bad;
        }
      }
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      failures += failed;
      if (!why.empty()) last_failure = why;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.duration_s));
  measuring = false;
  const double seconds = ms_since(start) / 1000.0;
  stop = true;
  for (auto& t : threads) t.join();
  json out = {{"mode", "proofs"},
              {"tree_size", tree_size},
              {"workers", o.workers},
              {"duration_s", o.duration_s},
              {"requests", latencies.size()},
              {"proofs_per_call", o.proofs_per_call},
              {"proofs", latencies.size() * o.proofs_per_call},
              {"failures", failures},
              {"proof_requests_per_s", static_cast<double>(latencies.size()) / seconds},
              {"proofs_per_s", static_cast<double>(latencies.size() * o.proofs_per_call) / seconds},
              {"p50_ms", percentile(latencies, 0.50)},
              {"p99_ms", percentile(latencies, 0.99)},
              {"loadgen_cpu_s", process_cpu_s()}};
  if (!last_failure.empty()) out["last_failure"] = last_failure;
  std::cout << out.dump() << std::endl;
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cityledger_loadgen - load for scripts/bench.sh's network benchmark"};
  Options o;
  app.add_option("--rpc", o.rpc, "RPC address of a validator (repeatable; workers spread over them)")
      ->required();
  bool proofs = false;
  app.add_flag("--proofs", proofs,
               "Instead of submitting, request inclusion proofs of random leaves from the first --rpc");
  app.add_option("--key", o.keys,
                 "Key of an account with the submitter role (repeatable: worker w signs with key w % keys)");
  app.add_option("--batch", o.batch, "Anchor entries per transaction")
      ->default_val(1)
      ->check(CLI::Range(1, 10000));
  app.add_option("--duration", o.duration_s, "Seconds of the measured window")->default_val(20);
  app.add_option("--warmup", o.warmup_s, "Seconds of load before the window")->default_val(3);
  app.add_option("--inflight", o.inflight, "Submitted and not yet committed, at most")->default_val(2000);
  app.add_option("--workers", o.workers, "Submitting threads")->default_val(4);
  app.add_option("--per-call", o.per_call,
                 "Transactions per submit_txs call (the bulk path); 1 submits each with submit_tx")
      ->default_val(100)
      ->check(CLI::Range(1, 1000));
  app.add_option("--monitor", o.monitor,
                 "How the load generator learns of commits: ws (the node's WebSocket block and checkpoint "
                 "notifications) or poll (status, get_block, get_checkpoint every 10 ms)")
      ->default_val("ws")
      ->check(CLI::IsMember({"ws", "poll"}));
  app.add_option("--proofs-per-call", o.proofs_per_call,
                 "With --proofs: get_inclusion_proof calls per HTTP request, sent as one JSON-RPC batch when "
                 "more than 1 (the server answers at most 256 per batch)")
      ->default_val(1)
      ->check(CLI::Range(1, 256));
  app.add_option("--linger-ms", o.linger_ms,
                 "Open loop: how long a call waits after its first transaction is due, to carry the ones "
                 "due meanwhile (a batching client); latency still counts from each one's due time")
      ->default_val(0);
  app.add_option("--rate", o.rate, "Offered transactions per second (open loop; 0: closed loop)")
      ->default_val(0);
  CLI11_PARSE(app, argc, argv);
  if (proofs) return proof_load(o);
  if (o.keys.empty()) {
    std::cerr << "loadgen: --key is required (unless --proofs)\n";
    return 2;
  }
  std::vector<crypto::SecretKey> keys;
  for (const auto& path : o.keys) {
    auto key = crypto::read_key_file(path);
    if (!key) {
      std::cerr << "loadgen: " << path << ": " << key.status().message() << "\n";
      return 2;
    }
    keys.push_back(std::move(*key));
  }
  Load load(std::move(o), std::move(keys));
  return load.run();
}
