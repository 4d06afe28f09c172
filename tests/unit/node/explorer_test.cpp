#include "node/explorer.hpp"

#include <gtest/gtest.h>

#include "crypto/schnorr.hpp"
#include "node/explorer_stats.hpp"

namespace cityledger::node {
namespace {

constexpr std::uint64_t minute = ExplorerStats::minute_ms;
constexpr std::uint64_t t0 = 1'795'000'020'000;  // 20 s into a minute

crypto::PublicKey key(std::uint64_t i) {
  return crypto::SecretKey::from_seed_for_testing(i + 1).public_key();
}

std::vector<crypto::PublicKey> signed_by(std::initializer_list<std::uint64_t> validators) {
  std::vector<crypto::PublicKey> out;
  for (auto v : validators) out.push_back(key(v));
  return out;
}

TEST(ExplorerStats, AnchorsPerMinuteKeepsTheLastHour) {
  ExplorerStats stats;
  stats.record_block(1, t0, 3, signed_by({0, 1, 2}));
  stats.record_block(2, t0 + 1'000, 2, signed_by({0, 1, 2}));
  stats.record_block(3, t0 + 2 * minute, 7, signed_by({1, 2, 3}));
  auto minutes = stats.anchors_per_minute(t0 + 2 * minute);
  ASSERT_EQ(minutes.size(), 60u);
  EXPECT_EQ(minutes.back().minute_start_unix_ms, (t0 + 2 * minute) / minute * minute);
  EXPECT_EQ(minutes.back().anchors, 7u);
  EXPECT_EQ(minutes[57].anchors, 5u);
  EXPECT_EQ(minutes[57].blocks, 2u);
  EXPECT_EQ(minutes[58].anchors, 0u);
  // An hour later the first minute has left the window, the third has not.
  minutes = stats.anchors_per_minute(t0 + 61 * minute);
  std::uint64_t total = 0;
  for (const auto& m : minutes) total += m.anchors;
  EXPECT_EQ(total, 7u);
  // The ring stays bounded however long the chain runs.
  for (std::uint64_t h = 4; h < 4 + 500; ++h) stats.record_block(h, t0 + h * minute, 1, signed_by({0}));
  minutes = stats.anchors_per_minute(t0 + 503 * minute);
  total = 0;
  for (const auto& m : minutes) total += m.anchors;
  EXPECT_EQ(total, 60u);
}

TEST(ExplorerStats, ValidatorActivityOverTheWindow) {
  ExplorerStats stats;
  for (std::uint64_t h = 1; h <= 150; ++h) {
    stats.record_block(h, t0 + h, 0, h % 2 ? signed_by({0, 1, 2}) : signed_by({0, 1, 3}));
  }
  // A validator added by governance (key 9) has its record from its first precommit.
  stats.record_block(151, t0 + 151, 0, signed_by({0, 1, 2, 9}));
  stats.record_block(151, t0 + 151, 0, signed_by({3}));  // a height seen before is ignored
  EXPECT_EQ(stats.window_size(), ExplorerStats::window_heights);
  const auto v = stats.validators();
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v.at(key(0)).signed_in_window, 100u);
  EXPECT_EQ(v.at(key(0)).last_signed_height, 151u);
  EXPECT_EQ(v.at(key(2)).signed_in_window, 50u);  // odd heights of the window 52..151
  EXPECT_EQ(v.at(key(3)).signed_in_window, 50u);  // even heights
  EXPECT_EQ(v.at(key(3)).last_signed_height, 150u);
  EXPECT_EQ(v.at(key(3)).last_signed_time_unix_ms, t0 + 150);
  EXPECT_EQ(v.at(key(9)).signed_in_window, 1u);
  EXPECT_EQ(v.at(key(9)).last_signed_height, 151u);
  EXPECT_FALSE(v.contains(key(4)));
}

TEST(Explorer, ServesItsFilesWithTypesAndPolicy) {
  auto index = explorer_response("/explorer");
  EXPECT_EQ(index.status, 200u);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<title>cityledger explorer</title>"), std::string::npos);
  EXPECT_EQ(explorer_response("/explorer/?x=1").body, index.body);
  bool has_csp = false;
  for (const auto& [name, value] : explorer_headers()) {
    if (name == "Content-Security-Policy") has_csp = value.find("default-src 'none'") != std::string::npos;
  }
  EXPECT_TRUE(has_csp);
  auto js = explorer_response("/explorer/verify.js");
  EXPECT_EQ(js.status, 200u);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(js.body.find("schnorrVerify"), std::string::npos);
  EXPECT_EQ(explorer_response("/explorer/explorer.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(explorer_response("/explorer/nothing.js").status, 404u);
  EXPECT_EQ(explorer_response("/explorer/../genesis.json").status, 404u);
  EXPECT_EQ(explorer_response("/explorerx").status, 404u);
}

}  // namespace
}  // namespace cityledger::node
