// The node's Prometheus metrics (docs/operations.md lists them).
//
// Two kinds of value:
//  - events the node reports as they happen (a commit, a checkpoint signature,
//    a refused transaction) go to prometheus-cpp counters and histograms in a
//    prometheus::Registry; they are thread-safe and cost a few atomic adds;
//  - state that already lives elsewhere (height, mempool size, the transport's
//    and the consensus core's counters, the store's size) is read at scrape
//    time into a NodeMetricsSnapshot and rendered next to the registry.
// render() serializes both with prometheus-cpp's TextSerializer.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "consensus/core.hpp"
#include "node/p2p/transport.hpp"
#include "rpc/server.hpp"

namespace prometheus {
class Registry;
class Counter;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace cityledger::node {

struct NodeMetricsSnapshot {
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  std::uint64_t log_size = 0;
  std::size_t validators = 0;
  std::size_t peers_connected = 0;
  bool syncing = false;
  std::size_t mempool_txs = 0;
  std::size_t mempool_bytes = 0;
  std::uint64_t store_bytes = 0;  // every file of the RocksDB directory
  std::size_t evidence = 0;       // equivocation evidence seen since start
  p2p::TransportMetrics transport;
  consensus::Stats consensus;
  rpc::ServerStats rpc;
};

// Where a refused transaction came from.
enum class TxSource : std::uint8_t { rpc, peer };

class NodeMetrics {
 public:
  NodeMetrics();
  ~NodeMetrics();
  NodeMetrics(const NodeMetrics&) = delete;
  NodeMetrics& operator=(const NodeMetrics&) = delete;

  // A block is durably stored. `tx_latencies_s`: for each of its transactions
  // this node had in its mempool, the seconds from admission to now.
  // `height_s`: the seconds since this node started the height.
  void on_commit(std::uint64_t txs, std::uint64_t anchors, std::span<const double> tx_latencies_s,
                 double height_s);
  // A checkpoint signature (ours or a peer's) was verified and collected.
  void on_checkpoint_signature();
  // A transaction was refused at the mempool; `reason` is an error code name
  // (error_code_name; spaces become underscores in the label).
  void on_tx_refused(TxSource source, std::string_view reason);

  std::string render(const NodeMetricsSnapshot& snapshot) const;

  // The commit latency buckets, in seconds.
  static std::vector<double> latency_buckets();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Histogram* commit_latency_ = nullptr;
  prometheus::Histogram* height_duration_ = nullptr;
  prometheus::Counter* txs_committed_ = nullptr;
  prometheus::Counter* anchors_committed_ = nullptr;
  prometheus::Counter* blocks_committed_ = nullptr;
  prometheus::Counter* checkpoint_signatures_ = nullptr;
  prometheus::Family<prometheus::Counter>* tx_refused_ = nullptr;
};

}  // namespace cityledger::node
