#include "node/setup.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "audit/genesis.hpp"
#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"
#include "node/config.hpp"
#include "node/tls_identity.hpp"

namespace cityledger::node {
namespace {

namespace fs = std::filesystem;

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cl_node_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 0777;
}

TEST_F(TempDir, TestnetCreatesAConsistentNetwork) {
  auto net = make_testnet({dir_, "city-test", 4, 30000});
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  ASSERT_EQ(net->nodes.size(), 4u);
  auto genesis = audit::Genesis::load(net->genesis);
  ASSERT_TRUE(genesis.ok()) << genesis.status().to_string();
  EXPECT_EQ(genesis->chain_id, "city-test");
  ASSERT_EQ(genesis->validators.size(), 4u);
  EXPECT_EQ(genesis->hash, crypto::sha256(read(net->genesis)));
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& home = net->nodes[i].home;
    EXPECT_EQ(read(home / "genesis.json"), read(net->genesis)) << "byte-identical genesis in every home";
    auto key = crypto::read_key_file(home / "validator.key");
    ASSERT_TRUE(key.ok()) << key.status().to_string();
    EXPECT_EQ(key->public_key(), genesis->validators[i].pubkey);
    EXPECT_EQ(mode_of(home / "validator.key"), 0600u);
    EXPECT_EQ(mode_of(home / "tls.key"), 0600u);
    auto pin = tls_pin_of_certificate(home / "tls.crt");
    ASSERT_TRUE(pin.ok());
    EXPECT_EQ(*pin, genesis->validators[i].tls_pubkey);
    auto config = NodeConfig::load(home);
    ASSERT_TRUE(config.ok()) << config.status().to_string();
    EXPECT_EQ(config->p2p_listen, "127.0.0.1:" + std::to_string(30000 + 10 * i));
    EXPECT_EQ(config->rpc_listen, "127.0.0.1:" + std::to_string(30000 + 10 * i + 1));
    EXPECT_EQ(net->nodes[i].rpc, "http://" + config->rpc_listen);
  }
  auto submitter = crypto::read_key_file(net->submitter_key);
  ASSERT_TRUE(submitter.ok());
  bool found = false;
  for (const auto& a : genesis->accounts) {
    if (a.pubkey == submitter->public_key()) found = a.roles == std::vector<std::string>{"submitter"};
  }
  EXPECT_TRUE(found);

  // The --json contract.
  const auto doc = nlohmann::json::parse(net->to_json());
  EXPECT_EQ(doc["genesis"], net->genesis.string());
  EXPECT_EQ(doc["chain_id"], "city-test");
  EXPECT_EQ(doc["nodes"].size(), 4u);
  EXPECT_EQ(doc["nodes"][2]["p2p"], "127.0.0.1:30020");
  EXPECT_EQ(doc["keys"]["admin"], net->admin_key.string());

  // A second run into the same directory is refused; nothing is overwritten.
  const std::string before = read(net->genesis);
  auto again = make_testnet({dir_, "city-test", 4, 30000});
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(read(net->genesis), before);
}

// docker-compose.yml's network: containers named node0..node3 that listen on
// 0.0.0.0 and dial each other by name.
TEST_F(TempDir, TestnetWithHostsAndBind) {
  auto net = make_testnet({dir_, "city-test", 4, 26600}, {{"node0", "node1", "node2", "node3"}, "0.0.0.0"});
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  auto genesis = audit::Genesis::load(net->genesis);
  ASSERT_TRUE(genesis.ok()) << genesis.status().to_string();
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string host = "node" + std::to_string(i);
    EXPECT_EQ(genesis->validators[i].p2p, host + ":" + std::to_string(26600 + 10 * i));
    auto config = NodeConfig::load(net->nodes[i].home);
    ASSERT_TRUE(config.ok()) << config.status().to_string();
    EXPECT_EQ(config->p2p_listen, "0.0.0.0:" + std::to_string(26600 + 10 * i));
    EXPECT_EQ(config->rpc_listen, "0.0.0.0:" + std::to_string(26600 + 10 * i + 1));
    EXPECT_EQ(net->nodes[i].rpc, "http://" + host + ":" + std::to_string(26600 + 10 * i + 1));
    EXPECT_EQ(net->nodes[i].p2p, genesis->validators[i].p2p);
  }
}

TEST_F(TempDir, TestnetHostsDefaultToAllInterfacesAndIpv6IsBracketed) {
  auto net = make_testnet({dir_ / "a", "city-test", 2, 26600}, {{"10.0.0.1", "[fd00::2]"}, ""});
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  auto genesis = audit::Genesis::load(net->genesis);
  ASSERT_TRUE(genesis.ok()) << genesis.status().to_string();
  EXPECT_EQ(genesis->validators[1].p2p, "[fd00::2]:26610");
  auto config = NodeConfig::load(net->nodes[1].home);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->p2p_listen, "0.0.0.0:26610");

  auto v6 = make_testnet({dir_ / "b", "city-test", 1, 26600}, {{}, "::"});
  ASSERT_TRUE(v6.ok()) << v6.status().to_string();
  auto v6_config = NodeConfig::load(v6->nodes[0].home);
  ASSERT_TRUE(v6_config.ok());
  EXPECT_EQ(v6_config->rpc_listen, "[::]:26601");
}

TEST_F(TempDir, TestnetRefusesBadHostsAndBind) {
  // Wrong count, a port in a host, a comma, a name for --bind: each refused
  // before anything is written.
  const std::vector<TestnetAddresses> bad = {
      {{"node0", "node1"}, ""},
      {{"node0", "node1:1", "node2"}, ""},
      {{"node0", "", "node2"}, ""},
      {{"node0", "no de1", "node2"}, ""},
      {{"node0", "node1", "node2"}, "node0"},
      {{}, "localhost"},
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const auto dir = dir_ / std::to_string(i);
    auto net = make_testnet({dir, "city-test", 3, 26600}, bad[i]);
    EXPECT_FALSE(net.ok()) << "case " << i;
    if (!net.ok()) {
      EXPECT_EQ(net.status().code(), ErrorCode::invalid_argument) << "case " << i;
    }
    EXPECT_FALSE(fs::exists(dir)) << "case " << i << " wrote " << dir;
  }
}

TEST_F(TempDir, InitRefusesToReplaceAKey) {
  InitOptions init{dir_, "city-test", "v0", "127.0.0.1:1", "127.0.0.1:2"};
  ASSERT_TRUE(init_home(init).ok());
  const std::string key = read(dir_ / "validator.key");
  auto again = init_home(init);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::already_exists);
  EXPECT_EQ(read(dir_ / "validator.key"), key);
}

TEST_F(TempDir, ConfigRoundTripAndUnknownKeys) {
  fs::create_directories(dir_);
  NodeConfig c;
  c.home = dir_;
  c.name = "n1";
  c.chain_id = "city";
  c.log_format = "json";
  ASSERT_TRUE(c.save().ok());
  auto loaded = NodeConfig::load(dir_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->name, "n1");
  EXPECT_EQ(loaded->log_format, "json");
  EXPECT_EQ(loaded->rpc_max_body_bytes, 1u << 20);

  std::ofstream(dir_ / "config.toml", std::ios::app) << "\n[rpc2]\nlisten = 'x'\n";
  auto bad = NodeConfig::load(dir_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("rpc2.listen"), std::string::npos);

  std::ofstream(dir_ / "config.toml", std::ios::trunc) << "[log]\nformat = 'xml'\n";
  EXPECT_FALSE(NodeConfig::load(dir_).ok());
  std::ofstream(dir_ / "config.toml", std::ios::trunc) << "[rpc]\nmax_body_bytes = 'big'\n";
  EXPECT_FALSE(NodeConfig::load(dir_).ok());
  std::ofstream(dir_ / "config.toml", std::ios::trunc) << "[rpc\n";
  EXPECT_FALSE(NodeConfig::load(dir_).ok());
}

TEST_F(TempDir, ConfigTopLevelLogKeys) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "config.toml", std::ios::trunc)
      << "log_format = \"json\"\nlog_level = \"debug\"\n[node]\nname = \"n1\"\n";
  auto loaded = NodeConfig::load(dir_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->log_format, "json");
  EXPECT_EQ(loaded->log_level, "debug");

  std::ofstream(dir_ / "config.toml", std::ios::trunc)
      << "log_format = \"json\"\n[log]\nformat = \"plain\"\n";
  auto both = NodeConfig::load(dir_);
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("keep one"), std::string::npos) << both.status().message();
  std::ofstream(dir_ / "config.toml", std::ios::trunc) << "log_format = \"yaml\"\n";
  EXPECT_FALSE(NodeConfig::load(dir_).ok());
  std::ofstream(dir_ / "config.toml", std::ios::trunc) << "log_format = 3\n";
  EXPECT_FALSE(NodeConfig::load(dir_).ok());
  std::ofstream(dir_ / "config.toml", std::ios::trunc) << "name = \"n1\"\n";
  EXPECT_FALSE(NodeConfig::load(dir_).ok()) << "other top-level keys stay unknown";
}

}  // namespace
}  // namespace cityledger::node
