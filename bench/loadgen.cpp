// cityledger_loadgen: the network benchmark's load generator
// (scripts/bench.sh --validators N --batch K --duration S).
//
// Pre-signs anchor transactions of K entries each on one thread, submits them
// from --workers threads, up to --per-call per submit_txs call (closed loop:
// at most --inflight submitted and not yet committed), and reads the results from the ledger itself:
// committed transactions and anchors per second over the steady-state window, from the blocks' own
// timestamps; latency from submission to the block that commits it and to the first final checkpoint covering
// it, as seen by polling. Prints one JSON object.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
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
  std::string key;
  std::size_t batch = 1;
  double duration_s = 20;
  double warmup_s = 3;
  std::size_t inflight = 2000;
  std::size_t workers = 4;
  std::size_t per_call = 100;  // transactions per submit_txs call; 1: submit_tx
  double rate = 0;             // transactions per second, open loop; 0: as fast as the in-flight bound allows
};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Microseconds per BIP340 sign and verify, measured here and now.
std::pair<double, double> signature_costs(const crypto::SecretKey& key) {
  const Hash32 digest = crypto::sha256(std::string_view("ceiling"));
  constexpr int n = 2000;
  auto t0 = Clock::now();
  crypto::Signature sig{};
  for (int i = 0; i < n; ++i) sig = key.sign(digest);
  const double sign_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
  t0 = Clock::now();
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += crypto::verify_uncached(key.public_key(), digest, sig) ? 1 : 0;
  const double verify_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
  if (ok != n) std::cerr << "loadgen: signature self-check failed\n";
  return {sign_us, verify_us};
}

class Load {
 public:
  Load(Options o, crypto::SecretKey key) : o_(std::move(o)), key_(std::move(key)) {}

  int run();

 private:
  void sign_loop(std::string chain_id, std::uint64_t first_nonce);
  void submit_loop(std::size_t worker);
  void monitor_loop();

  Options o_;
  crypto::SecretKey key_;
  std::atomic<bool> stop_{false};

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, Hash32>> signed_;  // hex tx, hash
  std::unordered_map<Hash32, Clock::time_point, Hash32Hasher> submitted_;
  std::size_t inflight_ = 0;
  std::uint64_t sent_ = 0;  // for --rate: the i-th submission is due at start + i / rate
  Clock::time_point start_ = Clock::now();
  std::uint64_t refused_ = 0;
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

void Load::sign_loop(std::string chain_id, std::uint64_t nonce) {
  std::mt19937_64 rng(std::random_device{}());
  while (!stop_) {
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || signed_.size() < 4 * o_.inflight + 1000; });
      if (stop_) return;
    }
    pb::TxBody body;
    body.set_chain_id(chain_id);
    body.set_signer(proto::to_field(key_.public_key()));
    body.set_nonce(nonce++);
    for (std::size_t i = 0; i < o_.batch; ++i) {
      auto* e = body.mutable_anchor()->add_entries();
      std::array<std::uint64_t, 4> r{rng(), rng(), rng(), rng()};
      e->set_content_hash(std::string(reinterpret_cast<const char*>(r.data()), 32));
      e->set_kind(pb::ENTRY_KIND_FILE);
    }
    const pb::Transaction tx = proto::sign_transaction(body, key_);
    auto item = std::make_pair(to_hex(as_bytes(proto::encode(tx))), proto::tx_hash(tx));
    std::lock_guard lock(mutex_);
    signed_.push_back(std::move(item));
    cv_.notify_all();
  }
}

void Load::submit_loop(std::size_t worker) {
  rpc::RpcClient client(o_.rpc[worker % o_.rpc.size()],
                        rpc::ClientOptions{std::chrono::milliseconds(10'000)});
  std::vector<std::pair<std::string, Hash32>> items;
  while (!stop_) {
    items.clear();
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || (!signed_.empty() && inflight_ < o_.inflight); });
      if (stop_) return;
      // Open loop: one transaction per call, each at its scheduled time,
      // whatever the network's state, so latency is measured at a fixed
      // offered rate. Closed loop: as many as the in-flight bound allows, up
      // to --per-call.
      const std::size_t room = o_.rate > 0 ? 1 : std::min(o_.per_call, o_.inflight - inflight_);
      while (items.size() < room && !signed_.empty()) {
        items.push_back(std::move(signed_.front()));
        signed_.pop_front();
      }
      inflight_ += items.size();
      const std::uint64_t index = sent_;
      sent_ += items.size();
      if (o_.rate > 0) {
        const auto due = start_ + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(static_cast<double>(index) / o_.rate));
        lock.unlock();
        std::this_thread::sleep_until(due);
        lock.lock();
      }
      const auto now = Clock::now();
      for (const auto& item : items) submitted_[item.second] = now;
      cv_.notify_all();
    }
    std::vector<std::string> refusals(items.size());
    if (o_.per_call == 1) {
      auto r = client.call("submit_tx", {{"tx", items[0].first}});
      if (!r) refusals[0] = r.status().message();
    } else {
      json txs = json::array();
      for (const auto& item : items) txs.push_back(item.first);
      auto r = client.call("submit_txs", {{"txs", std::move(txs)}});
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (!r) {
          refusals[i] = r.status().message();
        } else if (const auto& one = (*r)["results"].at(i); one.contains("error")) {
          refusals[i] = one["error"].value("message", std::string("refused"));
        }
      }
    }
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (refusals[i].empty()) continue;
      ++refused_;
      last_refusal_ = refusals[i];
      submitted_.erase(items[i].second);
      --inflight_;
    }
    cv_.notify_all();
  }
}

void Load::monitor_loop() {
  rpc::RpcClient client(o_.rpc[0]);
  std::uint64_t height = 0;
  while (!stop_) {
    auto st = client.call("status");
    if (st) {
      const auto top = (*st)["height"].get<std::uint64_t>();
      for (std::uint64_t h = height + 1; h <= top && !stop_; ++h) {
        auto block = client.call("get_block", {{"height", h}});
        if (!block) break;
        const auto seen = Clock::now();
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
        height = h;
      }
      auto cp = client.call("get_checkpoint");
      if (cp && cp->contains("height")) {
        const auto covered = (*cp)["height"].get<std::uint64_t>();
        const auto seen = Clock::now();
        std::lock_guard lock(mutex_);
        while (!awaiting_checkpoint_.empty() && awaiting_checkpoint_.begin()->first <= covered) {
          for (const auto& t : awaiting_checkpoint_.begin()->second) {
            checkpoint_ms_.push_back(std::chrono::duration<double, std::milli>(seen - t).count());
          }
          awaiting_checkpoint_.erase(awaiting_checkpoint_.begin());
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int Load::run() {
  rpc::RpcClient client(o_.rpc[0]);
  auto st = client.call("status");
  if (!st) {
    std::cerr << "loadgen: " << st.status().message() << "\n";
    return 2;
  }
  auto account = client.call("get_account", {{"pubkey", key_.public_key().hex()}});
  if (!account) {
    std::cerr << "loadgen: " << account.status().message() << "\n";
    return 2;
  }
  const auto [sign_us, verify_us] = signature_costs(key_);

  std::vector<std::thread> threads;
  threads.reserve(2 + o_.workers);
  threads.emplace_back([&] {
    sign_loop((*st)["chain_id"].get<std::string>(), account->value("next_pending_nonce", std::uint64_t{1}));
  });
  threads.emplace_back([&] { monitor_loop(); });
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
              {"offered_tx_per_s", o_.rate},
              {"blocks", window.size() > 0 ? window.size() - 1 : 0},
              {"txs", txs},
              {"tx_per_s", tx_per_s},
              {"anchors_per_s", tx_per_s * static_cast<double>(o_.batch)},
              {"p50_commit_ms", percentile(commits, 0.50)},
              {"p99_commit_ms", percentile(commits, 0.99)},
              {"p50_checkpoint_ms", percentile(checkpoints, 0.50)},
              {"p99_checkpoint_ms", percentile(checkpoints, 0.99)},
              {"refused", refused_},
              {"sign_us", sign_us},
              {"verify_us", verify_us},
              {"cores", static_cast<int>(cores)},
              {"ceiling_tx_per_s", ceiling},
              {"fraction_of_ceiling", ceiling > 0 ? tx_per_s / ceiling : 0.0},
              {"elapsed_s", ms_since(start) / 1000.0}};
  if (!last_refusal_.empty()) out["last_refusal"] = last_refusal_;
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cityledger_loadgen - load for scripts/bench.sh's network benchmark"};
  Options o;
  app.add_option("--rpc", o.rpc, "RPC address of a validator (repeatable; workers spread over them)")
      ->required();
  app.add_option("--key", o.key, "Key of an account with the submitter role")->required();
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
  app.add_option("--rate", o.rate, "Offered transactions per second (open loop; 0: closed loop)")
      ->default_val(0);
  CLI11_PARSE(app, argc, argv);
  auto key = crypto::read_key_file(o.key);
  if (!key) {
    std::cerr << "loadgen: " << key.status().message() << "\n";
    return 2;
  }
  Load load(std::move(o), std::move(*key));
  return load.run();
}
