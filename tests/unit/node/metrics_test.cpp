#include "node/metrics.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "node/logging.hpp"

namespace cityledger::node {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(NodeMetrics, RendersSnapshotAndEvents) {
  NodeMetrics metrics;
  NodeMetricsSnapshot s;
  s.height = 42;
  s.round = 1;
  s.log_size = 1000;
  s.validators = 4;
  s.peers_connected = 3;
  s.mempool_txs = 7;
  s.mempool_bytes = 7000;
  s.store_bytes = 123456;
  s.evidence = 2;
  s.transport.received_messages[static_cast<std::size_t>(p2p::MessageKind::vote)] = 99;
  s.transport.dropped[static_cast<std::size_t>(p2p::DropReason::queue_full)] = 5;
  s.consensus.dropped[static_cast<std::size_t>(consensus::DropReason::bad_signature)] = 3;
  s.consensus.double_sign_refusals = 1;
  s.rpc.rpc.requests_by_method["status"] = 11;

  const std::vector<double> latencies{0.004, 0.02, 0.02, 3.0};
  metrics.on_commit(4, 400, latencies, 0.3);
  metrics.on_commit(0, 0, {}, 0.01);
  metrics.on_checkpoint_signature();
  metrics.on_tx_refused(TxSource::rpc, "permission denied");
  metrics.on_tx_refused(TxSource::rpc, "permission denied");
  metrics.on_tx_refused(TxSource::peer, "unavailable");

  const std::string text = metrics.render(s);
  for (const char* line : {
           "cityledger_height 42",
           "cityledger_round 1",
           "cityledger_log_size 1000",
           "cityledger_peers_connected 3",
           "cityledger_mempool_transactions 7",
           "cityledger_mempool_bytes 7000",
           "cityledger_rocksdb_size_bytes 123456",
           "cityledger_equivocation_evidence_total 2",
           "cityledger_double_sign_refusals_total 1",
           "cityledger_p2p_messages_received_total{kind=\"vote\"} 99",
           "cityledger_p2p_messages_received_total{kind=\"tx\"} 0",
           "cityledger_p2p_messages_dropped_total{stage=\"send\",reason=\"queue_full\"} 5",
           "cityledger_p2p_messages_dropped_total{stage=\"consensus\",reason=\"bad_signature\"} 3",
           "cityledger_rpc_requests_total{method=\"status\"} 11",
           "cityledger_transactions_committed_total 4",
           "cityledger_anchors_committed_total 400",
           "cityledger_blocks_committed_total 2",
           "cityledger_checkpoint_signatures_collected_total 1",
           "cityledger_mempool_refused_total{reason=\"permission_denied\",source=\"rpc\"} 2",
           "cityledger_mempool_refused_total{reason=\"unavailable\",source=\"peer\"} 1",
           // 0.004 <= 0.005; the two 0.02 <= 0.025; 3.0 <= 5: cumulative buckets.
           "cityledger_commit_latency_seconds_count 4",
           "cityledger_commit_latency_seconds_bucket{le=\"0.005\"} 1",
           "cityledger_commit_latency_seconds_bucket{le=\"0.01\"} 1",
           "cityledger_commit_latency_seconds_bucket{le=\"0.025\"} 3",
           "cityledger_commit_latency_seconds_bucket{le=\"2.5\"} 3",
           "cityledger_commit_latency_seconds_bucket{le=\"5\"} 4",
           "cityledger_commit_latency_seconds_bucket{le=\"+Inf\"} 4",
           "cityledger_height_duration_seconds_count 2",
       }) {
    EXPECT_TRUE(has_line(text, line)) << "missing: " << line << "\n" << text;
  }
  EXPECT_NE(text.find("cityledger_commit_latency_seconds_sum 3.04"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE cityledger_commit_latency_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("# TYPE cityledger_height gauge"), std::string::npos);
  EXPECT_NE(text.find("# TYPE cityledger_anchors_committed_total counter"), std::string::npos);
  EXPECT_NE(text.find("# HELP cityledger_rocksdb_size_bytes "), std::string::npos);
}

TEST(NodeMetrics, LatencyAtABucketBoundIsInThatBucket) {
  NodeMetrics metrics;
  const std::vector<double> at_bound{0.05};
  metrics.on_commit(1, 1, at_bound, 0);
  const std::string text = metrics.render({});
  EXPECT_TRUE(has_line(text, "cityledger_commit_latency_seconds_bucket{le=\"0.025\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "cityledger_commit_latency_seconds_bucket{le=\"0.05\"} 1")) << text;
}

TEST(LogThrottle, OneLinePerKeyAndIntervalCountingTheRest) {
  LogThrottle throttle(std::chrono::milliseconds(1000));
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  ASSERT_EQ(throttle.admit("a", t0), std::optional<std::uint64_t>(0));
  EXPECT_FALSE(throttle.admit("a", t0 + std::chrono::milliseconds(10)));
  EXPECT_FALSE(throttle.admit("a", t0 + std::chrono::milliseconds(999)));
  EXPECT_EQ(throttle.admit("b", t0 + std::chrono::milliseconds(10)), std::optional<std::uint64_t>(0))
      << "keys are independent";
  EXPECT_EQ(throttle.admit("a", t0 + std::chrono::milliseconds(1000)), std::optional<std::uint64_t>(2));
  EXPECT_FALSE(throttle.admit("a", t0 + std::chrono::milliseconds(1500)));
  EXPECT_EQ(throttle.admit("a", t0 + std::chrono::milliseconds(2500)), std::optional<std::uint64_t>(1));
}

}  // namespace
}  // namespace cityledger::node
