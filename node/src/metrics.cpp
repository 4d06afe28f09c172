#include "node/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>

#include "rpc/metrics.hpp"

namespace cityledger::node {

namespace {
double d(std::uint64_t v) { return static_cast<double>(v); }
}  // namespace

std::vector<double> NodeMetrics::latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

NodeMetrics::NodeMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  commit_latency_ =
      &prometheus::BuildHistogram()
           .Name("cityledger_commit_latency_seconds")
           .Help(
               "Seconds from a transaction's admission to this node's mempool to its block being "
               "durably stored here")
           .Register(*registry_)
           .Add({}, latency_buckets());
  height_duration_ = &prometheus::BuildHistogram()
                          .Name("cityledger_height_duration_seconds")
                          .Help("Seconds from starting a height to storing its committed block")
                          .Register(*registry_)
                          .Add({}, latency_buckets());
  txs_committed_ = &prometheus::BuildCounter()
                        .Name("cityledger_transactions_committed_total")
                        .Help("Transactions in blocks committed since the node started")
                        .Register(*registry_)
                        .Add({});
  anchors_committed_ = &prometheus::BuildCounter()
                            .Name("cityledger_anchors_committed_total")
                            .Help("Log entries (anchors) appended since the node started")
                            .Register(*registry_)
                            .Add({});
  blocks_committed_ = &prometheus::BuildCounter()
                           .Name("cityledger_blocks_committed_total")
                           .Help("Blocks committed since the node started")
                           .Register(*registry_)
                           .Add({});
  checkpoint_signatures_ = &prometheus::BuildCounter()
                                .Name("cityledger_checkpoint_signatures_collected_total")
                                .Help("Valid checkpoint signatures collected, this node's own included")
                                .Register(*registry_)
                                .Add({});
  tx_refused_ = &prometheus::BuildCounter()
                     .Name("cityledger_mempool_refused_total")
                     .Help("Transactions refused at the mempool, by source and reason")
                     .Register(*registry_);
}

NodeMetrics::~NodeMetrics() = default;

void NodeMetrics::on_commit(std::uint64_t txs, std::uint64_t anchors, std::span<const double> tx_latencies_s,
                            double height_s) {
  blocks_committed_->Increment();
  txs_committed_->Increment(d(txs));
  anchors_committed_->Increment(d(anchors));
  height_duration_->Observe(height_s);
  if (tx_latencies_s.empty()) return;
  // One ObserveMultiple per block instead of an atomic update per transaction.
  static const std::vector<double> bounds = latency_buckets();
  std::vector<double> increments(bounds.size() + 1, 0.0);
  double sum = 0;
  for (double v : tx_latencies_s) {
    const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
    increments[static_cast<std::size_t>(bucket)] += 1;
    sum += v;
  }
  commit_latency_->ObserveMultiple(increments, sum);
}

void NodeMetrics::on_checkpoint_signature() { checkpoint_signatures_->Increment(); }

void NodeMetrics::on_tx_refused(TxSource source, std::string_view reason) {
  std::string label(reason);  // "permission denied" -> "permission_denied"
  std::replace(label.begin(), label.end(), ' ', '_');
  tx_refused_->Add({{"source", source == TxSource::rpc ? "rpc" : "peer"}, {"reason", label}}).Increment();
}

std::string NodeMetrics::render(const NodeMetricsSnapshot& s) const {
  rpc::MetricFamilies out;
  out.gauge("cityledger_height", "Height of the last committed block").sample(d(s.height));
  out.gauge("cityledger_round", "Consensus round at the current height").sample(s.round);
  out.gauge("cityledger_log_size", "Entries in the transparency log (its tree size)").sample(d(s.log_size));
  out.gauge("cityledger_validators", "Validators in the current set").sample(d(s.validators));
  out.gauge("cityledger_peers_connected", "Validators connected to this node").sample(d(s.peers_connected));
  out.gauge("cityledger_syncing", "1 while a peer reports a height well ahead of ours")
      .sample(s.syncing ? 1 : 0);
  out.gauge("cityledger_mempool_transactions", "Transactions waiting in the mempool")
      .sample(d(s.mempool_txs));
  out.gauge("cityledger_mempool_bytes", "Bytes of the transactions waiting in the mempool")
      .sample(d(s.mempool_bytes));
  out.gauge("cityledger_rocksdb_size_bytes", "Bytes on disk of the ledger's RocksDB directory")
      .sample(d(s.store_bytes));
  out.counter("cityledger_equivocation_evidence_total",
              "Pairs of conflicting votes by one validator seen since the node started")
      .sample(d(s.evidence));
  out.counter("cityledger_double_sign_refusals_total",
              "Signatures this node's double-sign guard refused to make since the node started")
      .sample(d(s.consensus.double_sign_refusals));

  out.counter("cityledger_p2p_messages_received_total", "Peer messages received, by kind");
  for (std::size_t k = 1; k < p2p::message_kind_count; ++k) {
    out.sample(d(s.transport.received_messages[k]),
               {{"kind", p2p::message_kind_name(static_cast<p2p::MessageKind>(k))}});
  }
  out.counter("cityledger_p2p_messages_sent_total", "Peer messages written to a socket, by kind");
  for (std::size_t k = 1; k < p2p::message_kind_count; ++k) {
    out.sample(d(s.transport.sent_messages[k]),
               {{"kind", p2p::message_kind_name(static_cast<p2p::MessageKind>(k))}});
  }
  out.counter("cityledger_p2p_bytes_received_total", "Frame bytes received from peers").sample(d([&] {
    std::uint64_t sum = 0;
    for (auto b : s.transport.received_bytes) sum += b;
    return sum;
  }()));
  // Outgoing messages the transport could not deliver, and incoming consensus
  // messages the core refused, in one family told apart by `stage`.
  out.counter(
      "cityledger_p2p_messages_dropped_total",
      "Peer messages dropped, by stage (send: not delivered; consensus: refused on receipt) and reason");
  for (std::size_t r = 0; r < p2p::drop_reason_count; ++r) {
    out.sample(d(s.transport.dropped[r]),
               {{"stage", "send"}, {"reason", p2p::drop_reason_name(static_cast<p2p::DropReason>(r))}});
  }
  for (std::size_t r = 0; r < s.consensus.dropped.size(); ++r) {
    out.sample(d(s.consensus.dropped[r]),
               {{"stage", "consensus"},
                {"reason", consensus::drop_reason_name(static_cast<consensus::DropReason>(r))}});
  }
  out.counter("cityledger_p2p_disconnects_total", "Peer connections ended (or refused), by reason");
  for (std::size_t r = 0; r < p2p::disconnect_reason_count; ++r) {
    out.sample(d(s.transport.disconnects[r]),
               {{"reason", p2p::disconnect_reason_name(static_cast<p2p::DisconnectReason>(r))}});
  }
  out.counter("cityledger_p2p_connections_established_total",
              "Peer connections that passed TLS pinning and Hello")
      .sample(d(s.transport.connections_established));
  out.counter("cityledger_p2p_writes_total",
              "Socket writes to peers (several small frames may share one: compare with messages sent)")
      .sample(d(s.transport.writes));
  out.counter("cityledger_consensus_votes_accepted_total", "Valid votes accepted by the consensus core")
      .sample(d(s.consensus.votes_accepted));
  out.counter("cityledger_consensus_proposals_accepted_total",
              "Valid proposals accepted by the consensus core")
      .sample(d(s.consensus.proposals_accepted));

  rpc::add_server_metrics(out, s.rpc);
  out.append(registry_->Collect());
  return rpc::serialize_metrics(out.take());
}

}  // namespace cityledger::node
