#include "audit/genesis.hpp"

#include <gtest/gtest.h>

namespace cityledger::audit {
namespace {

TEST(Genesis, RefusesBadDocumentsWithTheReason) {
  const auto k1 = crypto::SecretKey::from_seed_for_testing(1).public_key().hex();
  const auto k2 = crypto::SecretKey::from_seed_for_testing(2).public_key().hex();
  const std::string pin(64, 'a');
  auto doc = [&](const std::string& validators, const std::string& accounts,
                 const std::string& chain = "city") {
    return R"({"chain_id":")" + chain + R"(","genesis_time":"2026-01-01T00:00:00Z","validators":)" +
           validators + R"(,"accounts":)" + accounts + "}";
  };
  auto v = [&](const std::string& key, const std::string& name) {
    return R"({"name":")" + name + R"(","pubkey":")" + key + R"(","tls_pubkey":")" + pin +
           R"(","p2p":"127.0.0.1:1"})";
  };
  EXPECT_TRUE(Genesis::parse(doc("[" + v(k1, "a") + "]", "[]")).ok());
  auto expect_error = [](const std::string& text, const std::string& needle) {
    auto g = Genesis::parse(text);
    ASSERT_FALSE(g.ok()) << text;
    EXPECT_NE(g.status().message().find(needle), std::string::npos) << g.status().message();
  };
  expect_error("{not json", "not valid JSON");
  expect_error(doc("[]", "[]"), "non-empty");
  expect_error(doc("[" + v(k1, "a") + "," + v(k1, "b") + "]", "[]"), "duplicate pubkey");
  expect_error(doc("[" + v(k1, "a") + "," + v(k2, "a") + "]", "[]"), "duplicate name");
  expect_error(doc("[" + v(std::string(64, 'z'), "a") + "]", "[]"), "lowercase hex");
  expect_error(doc("[" + v(k1, "a") + "]", R"([{"pubkey":")" + k2 + R"(","roles":["king"]}])"),
               "unknown role");
  expect_error(doc("[" + v(k1, "a") + "]", "[]", "Bad Chain"), "chain id");
  std::string extra = doc("[" + v(k1, "a") + "]", "[]");
  extra.insert(1, R"("surprise":1,)");
  expect_error(extra, "unknown field 'surprise'");
}

}  // namespace
}  // namespace cityledger::audit
