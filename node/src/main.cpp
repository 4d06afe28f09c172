// cityledgerd: the validator process.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <boost/asio/post.hpp>
#include <iostream>
#include <thread>

#include "audit/genesis.hpp"
#include "node/logging.hpp"
#include "node/node.hpp"
#include "node/service_notify.hpp"
#include "node/setup.hpp"

using namespace cityledger;

namespace {

int fail(const Status& status) {
  std::cerr << "cityledgerd: " << status.to_string() << "\n";
  return 1;
}

// The STATUS= line systemctl status shows (docs/operations.md).
std::string service_status(const node::Node& node) {
  const auto s = node.status();
  const std::size_t peers_max = node.configured_peers();
  std::string line = "height " + std::to_string(s.height) + ", round " + std::to_string(s.consensus_round) +
                     ", peers " + std::to_string(s.peers) + "/" + std::to_string(peers_max) + ", mempool " +
                     std::to_string(s.mempool_txs);
  if (s.syncing) line += ", catching up";
  return line;
}

// Runs the node until SIGTERM/SIGINT. Signals are blocked in every thread and
// taken by one thread with sigwait, so no handler runs in the middle of the
// node's code.
int run_node(const std::filesystem::path& home, const std::string& log_level, const std::string& log_format,
             std::size_t threads) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto config = node::NodeConfig::load(home);
  if (!config) return fail(config.status());
  if (!log_level.empty()) config->log_level = log_level;
  if (!log_format.empty()) config->log_format = log_format;
  if (Status s = node::setup_logging(config->log_level, config->log_format, config->name); !s.ok())
    return fail(s);
  node::notify_status("opening " + home.string());
  auto node = node::Node::open(*config);
  if (!node) return fail(node.status());
  if (Status s = (*node)->start(threads); !s.ok()) return fail(s);
  // start() returns with the RPC server bound and the transport listening.
  node::notify_ready(service_status(**node));
  auto reporter = std::make_unique<node::ServiceReporter>(
      [n = node->get()] { return service_status(*n); },
      [n = node->get()](std::function<void()> done) { boost::asio::post(n->io(), std::move(done)); });

  std::thread signal_thread([&signals, n = node->get()] {
    int received = 0;
    sigwait(&signals, &received);
    node::notify_stopping("stopping on signal " + std::to_string(received));
    n->stop();
  });
  Status result = (*node)->wait();
  // Wake the signal thread if the node stopped on its own.
  ::kill(::getpid(), SIGTERM);
  signal_thread.join();
  reporter.reset();
  node::notify_stopping(result.ok() ? "stopped" : "failed: " + result.to_string());
  node->reset();
  if (!result.ok()) return fail(result);
  std::cerr << "cityledgerd: stopped cleanly\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cityledgerd - validator node of the cityledger permissioned ledger"};
  app.set_version_flag("--version", std::string("cityledgerd 0.1.0"));
  app.require_subcommand(1);

  node::InitOptions init;
  auto* init_cmd = app.add_subcommand(
      "init",
      "Create a validator home: config.toml, validator.key (0600), tls.key and tls.crt, and a one-validator "
      "genesis.json to replace with the consortium's");
  init_cmd->add_option("--home", init.home, "Home directory to create")->required();
  init_cmd->add_option("--chain-id", init.chain_id, "Chain id (a-z, 0-9, '.', '_', '-')")->required();
  init_cmd->add_option("--name", init.name, "Validator name")->capture_default_str();
  init_cmd->add_option("--p2p", init.p2p_listen, "Peer address host:port")->capture_default_str();
  init_cmd->add_option("--rpc", init.rpc_listen, "JSON-RPC address host:port")->capture_default_str();

  node::TestnetOptions testnet;
  bool testnet_json = false;
  auto* testnet_cmd = app.add_subcommand(
      "testnet", "Create a complete local network: genesis.json, node homes and client keys");
  testnet_cmd->add_option("--validators", testnet.validators, "Number of validators")->capture_default_str();
  testnet_cmd->add_option("--dir", testnet.dir, "Directory to create (must be new or empty)")->required();
  testnet_cmd
      ->add_option("--base-port", testnet.base_port,
                   "First port; node i uses base+10i (p2p) and base+10i+1 (rpc)")
      ->capture_default_str();
  testnet_cmd->add_option("--chain-id", testnet.chain_id, "Chain id")->capture_default_str();
  testnet_cmd->add_flag("--json", testnet_json, "Print one JSON object describing the network");
  testnet_cmd
      ->add_option("--submitters", testnet.submitters,
                   "Accounts with the submitter role (keys/submitter.key, keys/submitter2.key, ...)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  node::TestnetAddresses testnet_addresses;
  testnet_cmd
      ->add_option("--hosts", testnet_addresses.hosts,
                   "Comma-separated host of each validator, as the others dial it (default 127.0.0.1)")
      ->delimiter(',');
  testnet_cmd->add_option("--bind", testnet_addresses.bind,
                          "IP address the nodes listen on (default 127.0.0.1, or 0.0.0.0 with --hosts)");

  std::filesystem::path start_home;
  std::string log_level, log_format;
  std::size_t threads = 2;
  auto* start_cmd =
      app.add_subcommand("start", "Run a validator in the foreground (SIGTERM or SIGINT stop it)");
  start_cmd->add_option("--home", start_home, "Validator home directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  start_cmd->add_option("--log-level", log_level,
                        "trace, debug, info, warn or error (overrides config.toml)");
  start_cmd->add_option("--log-format", log_format, "plain or json (overrides config.toml)");
  start_cmd->add_option("--threads", threads, "I/O threads")->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  if (*start_cmd) return run_node(start_home, log_level, log_format, threads);

  if (*init_cmd) {
    auto validator = node::init_home(init);
    if (!validator) return fail(validator.status());
    audit::Genesis genesis;
    genesis.chain_id = init.chain_id;
    genesis.genesis_time = node::utc_now_rfc3339();
    genesis.validators.push_back(*validator);
    genesis.accounts.push_back({validator->pubkey, {audit::role_validator}});
    std::ofstream(init.home / "genesis.json") << genesis.to_json();
    std::cout << "initialized " << init.home.string() << "\n"
              << "validator pubkey: " << validator->pubkey.hex() << "\n"
              << "tls pubkey pin:   " << validator->tls_pubkey.hex() << "\n";
    return 0;
  }
  if (*testnet_cmd) {
    auto net = node::make_testnet(testnet, testnet_addresses);
    if (!net) return fail(net.status());
    if (testnet_json) {
      std::cout << net->to_json() << "\n";
    } else {
      std::cout << "created a " << net->nodes.size() << "-validator network '" << net->chain_id << "' in "
                << testnet.dir.string() << "\n  genesis:   " << net->genesis.string() << "\n";
      for (const auto& n : net->nodes)
        std::cout << "  " << n.home.string() << "  p2p " << n.p2p << "  rpc " << n.rpc << "\n";
      std::cout << "  submitter key: " << net->submitter_key.string()
                << "\n  admin key:     " << net->admin_key.string() << "\n";
    }
    return 0;
  }
  return 0;
}
