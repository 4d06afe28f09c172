#include "node/evidence_log.hpp"

#include <gtest/gtest.h>

namespace cityledger::node {
namespace {

pb::DuplicateVoteEvidence evidence_at(std::uint64_t height) {
  pb::DuplicateVoteEvidence e;
  e.mutable_first()->set_height(height);
  e.mutable_second()->set_height(height);
  e.mutable_second()->set_block_id(std::string(32, 'b'));
  return e;
}

// Regression: the node kept every equivocation record it was told about, so a
// validator equivocating on every vote grew each honest node's memory without
// bound (found with cityledgerd_byzantine, docs/testing.md "Byzantine mode").
TEST(EvidenceLog, KeepsTheNewestAndCountsAll) {
  EvidenceLog log(8);
  for (std::uint64_t h = 1; h <= 100'000; ++h) log.add(evidence_at(h));
  EXPECT_EQ(log.total(), 100'000u);
  EXPECT_EQ(log.kept(), 8u);
  const auto newest = log.newest(3);
  ASSERT_EQ(newest.size(), 3u);
  EXPECT_EQ(newest[0].first().height(), 99'998u);
  EXPECT_EQ(newest[2].first().height(), 100'000u);
  EXPECT_EQ(log.newest(100).size(), 8u);
}

TEST(EvidenceLog, DefaultBoundMatchesTheCore) {
  EvidenceLog log;
  for (std::uint64_t h = 1; h <= EvidenceLog::kept_max_default + 10; ++h) log.add(evidence_at(h));
  EXPECT_EQ(log.kept(), EvidenceLog::kept_max_default);
  EXPECT_EQ(log.total(), EvidenceLog::kept_max_default + 10);
  EXPECT_TRUE(EvidenceLog().newest(5).empty());
}

}  // namespace
}  // namespace cityledger::node
