#include "node/node.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <latch>
#include <limits>
#include <set>

#include "crypto/schnorr.hpp"
#include "node/durable_file.hpp"
#include "node/explorer.hpp"
#include "node/rpc_service.hpp"
#include "node/tls_identity.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"
#include "rpc/metrics.hpp"

namespace cityledger::node {

namespace asio = boost::asio;

namespace {

// Blocks served per request, and the size they may add up to.
constexpr std::uint32_t blocks_per_response_max = 64;
constexpr std::size_t block_response_bytes_max = 8u << 20;
constexpr std::uint64_t block_request_interval_ms = 500;
// Gossiped transactions waiting for verification, at most (count and bytes).
constexpr std::size_t gossip_backlog_max = 10'000;
constexpr std::size_t gossip_backlog_bytes_max = 32u << 20;
// Niceness of the gossip verification threads (relative to the process's).
constexpr int verify_thread_nice = 10;

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
// Clang 14 lacks aggregate CTAD (P1816), so spell the deduction guide out.
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

// A validator entry's identity as a peer: any change makes it a new peer.
std::string peer_identity(const audit::GenesisValidator& v) {
  return v.pubkey.hex() + "/" + v.tls_pubkey.hex() + "/" + v.p2p + "/" + v.name;
}

}  // namespace

Node::Node(NodeConfig config, audit::Genesis genesis)
    : config_(std::move(config)), genesis_(std::move(genesis)), strand_(asio::make_strand(io_)) {}

Node::~Node() {
  stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

Result<std::unique_ptr<Node>> Node::open(const NodeConfig& config) {
  auto genesis = audit::Genesis::load(config.path(config.genesis_file));
  if (!genesis) return genesis.status();
  if (!config.chain_id.empty() && config.chain_id != genesis->chain_id) {
    return error(ErrorCode::invalid_argument, "config.toml names chain '" + config.chain_id +
                                                  "' but genesis is '" + genesis->chain_id + "'");
  }
  std::unique_ptr<Node> node(new Node(config, std::move(genesis).value()));
  const auto& g = node->genesis_;

  std::vector<crypto::PublicKey> keys;
  for (const auto& v : g.validators) keys.push_back(v.pubkey);
  node->validators_ = consensus::ValidatorSet(keys);

  auto key = crypto::read_key_file(config.path(config.validator_key_file));
  if (!key) return key.status();
  node->self_index_ = node->validators_.index_of(key->public_key());
  if (!node->self_index_) {
    spdlog::warn(
        "validator key {} is not in genesis: this node follows the chain and votes only at "
        "heights where a governance set change made it a validator",
        key->public_key().hex());
  }
  node->key_ = std::move(key).value();

  std::error_code mkdir_error;  // the store reports a data directory it cannot create
  std::filesystem::create_directories(config.path(config.data_dir), mkdir_error);
  if (!mkdir_error) CL_TRY(node->check_free_space());
  ledger::StoreOptions options;
  options.chain_id = g.chain_id;
  options.genesis_hash = g.hash;
  options.create_if_missing = true;
  auto store = ledger::Store::open(config.path(config.data_dir) / "ledger", options);
  if (!store) return store.status();
  node->store_ = std::move(store).value();

  node->chain_ = std::make_unique<ChainState>(node->genesis_, *node->store_);
  CL_TRY(node->load_chain_state());
  MempoolLimits mempool_limits;
  mempool_limits.max_txs = config.mempool_max_txs;
  mempool_limits.max_bytes = config.mempool_max_bytes;
  node->mempool_ = std::make_unique<Mempool>(g.chain_id, *node->chain_, mempool_limits);
  BlockLimits block_limits;
  block_limits.max_txs = config.block_max_txs;
  block_limits.max_bytes = config.block_max_bytes;
  node->app_ = std::make_unique<Application>(node->genesis_, *node->store_, *node->mempool_, *node->chain_,
                                             block_limits);
  const unsigned helpers = std::clamp(std::thread::hardware_concurrency(), 1u, 8u) - 1;
  if (helpers > 0) {
    node->block_pool_ = std::make_unique<asio::thread_pool>(helpers);
    node->app_->set_parallel_for([pool = node->block_pool_.get(), helpers](
                                     std::size_t n, const std::function<void(std::size_t)>& work) {
      // Strided shares: share s takes s, s + shares, ...; share 0 runs here.
      const std::size_t shares = std::min<std::size_t>(n, helpers + 1);
      std::latch done(static_cast<std::ptrdiff_t>(shares - 1));
      for (std::size_t share = 1; share < shares; ++share) {
        asio::post(*pool, [&work, &done, share, shares, n] {
          for (std::size_t i = share; i < n; i += shares) work(i);
          done.count_down();
        });
      }
      for (std::size_t i = 0; i < n; i += shares) work(i);
      done.wait();
    });
  }
  node->sign_state_ = std::make_unique<SignStateFile>(config.path(config.data_dir) / "sign_state");
  auto restored = node->sign_state_->load();
  if (!restored) return restored.status();
  node->kept_blocks_ = std::make_unique<BlockKeeper>(config.path(config.data_dir) / "kept_blocks");
  CL_TRY(node->kept_blocks_->open());
  node->verifier_ = std::make_unique<consensus::Bip340Verifier>();
  node->checkpoints_ = std::make_unique<CheckpointCollector>(g.chain_id);
  node->explorer_stats_ = std::make_unique<ExplorerStats>();
  CL_TRY(rebuild_explorer_stats(*node->store_, *node->explorer_stats_, *node->chain_));

  consensus::Config cc;
  cc.chain_id = g.chain_id;
  // The core decides per height whether this key is in the set in charge:
  // a validator added by governance starts voting at the set's first height,
  // a removed one stops.
  cc.key = node->key_->clone();
  cc.height = node->store_->last_height() + 1;
  cc.validators = node->chain_->validator_set_at(cc.height);
  if (cc.height > 1) {
    auto commit = node->store_->get_commit(cc.height - 1);
    if (!commit) return commit.status();
    cc.last_commit = *commit;
  }
  cc.restored = *restored;
  node->kept_blocks_->prune_through(cc.height - 1);
  cc.restored_blocks = node->kept_blocks_->load(cc.height);
  if (!cc.restored_blocks.empty()) {
    spdlog::info("resuming height {} with {} block(s) kept from before the restart", cc.height,
                 cc.restored_blocks.size());
  }
  cc.timeouts.propose_ms = config.timeout_propose_ms;
  cc.timeouts.propose_delta_ms = config.timeout_propose_ms / 2;
  cc.timeouts.prevote_ms = config.timeout_vote_ms;
  cc.timeouts.prevote_delta_ms = config.timeout_vote_ms / 2;
  cc.timeouts.precommit_ms = config.timeout_vote_ms;
  cc.timeouts.precommit_delta_ms = config.timeout_vote_ms / 2;
  node->core_ = std::make_unique<consensus::Core>(std::move(cc), *node->verifier_);

  p2p::TransportConfig tc;
  tc.chain_id = g.chain_id;
  // No peer ever gets this index (wanted_peers() skips our own entries).
  tc.self_index = node->self_index_.value_or(std::numeric_limits<std::uint32_t>::max());
  tc.validator_key = node->key_->public_key();
  tc.tls_key_file = config.path(config.tls_key_file);
  tc.tls_cert_file = config.path(config.tls_cert_file);
  tc.listen_address = config.p2p_listen;
  auto own_pin = tls_pin_of_certificate(tc.tls_cert_file);
  if (!own_pin) return own_pin.status();
  node->own_tls_pin_ = *own_pin;
  for (std::uint32_t i = 0; i < g.validators.size(); ++i) {
    node->peer_index_of_.emplace(peer_identity(g.validators[i]), i);
  }
  node->next_peer_index_ = static_cast<p2p::PeerIndex>(g.validators.size());
  tc.peers = node->wanted_peers();
  node->transport_ = std::make_unique<p2p::Transport>(node->io_, std::move(tc), *node);
  spdlog::info("opened {}: chain {} at height {}, log size {}, {} validators{}", config.home.string(),
               g.chain_id, node->store_->last_height(), node->store_->log_size(), g.validators.size(),
               node->self_index_ ? ", this node is validator " + std::to_string(*node->self_index_) : "");
  return node;
}

std::filesystem::path Node::state_snapshot_path() const {
  return config_.path(config_.data_dir) / "state_snapshot";
}

// The committed state from the snapshot and the blocks after it, or from every
// block when there is no usable snapshot (docs/node.md, "State snapshots").
Status Node::load_chain_state() {
  const auto started = std::chrono::steady_clock::now();
  const std::uint64_t last = store_->last_height();
  auto file = read_file_if_exists(state_snapshot_path());
  std::optional<pb::StateSnapshot> snapshot;
  if (!file) {
    spdlog::warn("cannot read the state snapshot: {}", file.status().message());
  } else if (*file) {
    snapshot.emplace();
    if (!snapshot->ParseFromString(**file)) {
      spdlog::warn("state snapshot {} does not decode: replaying every block",
                   state_snapshot_path().string());
      snapshot.reset();
    }
  }
  bool used = false;
  if (snapshot) {
    CL_TRY(chain_->load(*snapshot, &used));
  } else {
    CL_TRY(chain_->load());
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count();
  if (used) {
    spdlog::info("committed state from the snapshot at height {} and {} later block(s) in {} ms",
                 snapshot->height(), last - snapshot->height(), ms);
  } else if (last > 0) {
    spdlog::info("committed state replayed from {} block(s) in {} ms", last, ms);
  }
  return {};
}

// Consensus strand, after a commit: the state after `height`, every
// state_snapshot_interval blocks. A failure costs only a longer next start.
void Node::maybe_write_state_snapshot(std::uint64_t height, const Hash32& block_hash) {
  if (config_.state_snapshot_interval == 0 || height % config_.state_snapshot_interval != 0) return;
  const pb::StateSnapshot snapshot = chain_->snapshot(block_hash);
  if (snapshot.height() != height) return;  // cannot happen: the chain state follows every commit
  std::string bytes;
  if (!snapshot.SerializeToString(&bytes)) {
    spdlog::warn("cannot encode the state snapshot of height {}", height);
    return;
  }
  if (Status s = write_file_durably(state_snapshot_path(), bytes); !s.ok()) {
    spdlog::warn("cannot write the state snapshot of height {}: {}", height, s.message());
    return;
  }
  spdlog::debug("state snapshot of height {} written ({} bytes)", height, bytes.size());
}

std::vector<p2p::PeerConfig> Node::wanted_peers() {
  // The set in charge of the next height and every set scheduled after it:
  // a validator added at a later height is connected (and can catch up)
  // before it must vote; a removed one is dropped once its last height is
  // committed.
  const std::uint64_t next = store_->last_height() + 1;
  std::vector<std::vector<audit::GenesisValidator>> sets{chain_->validators_at(next)};
  for (auto& [height, set] : chain_->set_changes()) {
    if (height > next) sets.push_back(std::move(set));
  }
  std::vector<p2p::PeerConfig> out;
  std::map<p2p::PeerIndex, audit::GenesisValidator> peers;
  std::set<Hash32> pins;
  for (const auto& set : sets) {
    for (const auto& v : set) {
      // Our own entries, also the one from before a key rotation (same
      // consensus key, TLS pin or address as ours).
      if (v.pubkey == key_->public_key() || v.tls_pubkey == own_tls_pin_ || v.p2p == config_.p2p_listen)
        continue;
      // A pin in two entries (a consensus-key rotation that keeps the TLS
      // key): the entry of the set in charge wins until the new set is, so
      // the validator keeps voting with its old key until it restarts with
      // the new one (docs/governance.md, "Rotating keys").
      if (!pins.insert(v.tls_pubkey).second) continue;
      auto [it, added] = peer_index_of_.emplace(peer_identity(v), next_peer_index_);
      if (added) ++next_peer_index_;
      if (!peers.emplace(it->second, v).second) continue;
      p2p::PeerConfig peer;
      peer.index = it->second;
      peer.name = v.name;
      peer.address = v.p2p;
      peer.tls_pin = v.tls_pubkey;
      peer.validator_key = v.pubkey;
      out.push_back(std::move(peer));
    }
  }
  std::lock_guard lock(mutex_);
  peers_ = std::move(peers);
  return out;
}

void Node::refresh_peers() {
  std::map<p2p::PeerIndex, audit::GenesisValidator> before;
  {
    std::lock_guard lock(mutex_);
    before = peers_;
  }
  auto wanted = wanted_peers();
  std::map<p2p::PeerIndex, audit::GenesisValidator> after;
  {
    std::lock_guard lock(mutex_);
    after = peers_;
  }
  // A changed entry gets a new index, so equal maps mean an unchanged list.
  if (before == after) return;
  for (const auto& [i, v] : after) {
    if (!before.contains(i))
      spdlog::info("validator {} ({}) joins this node's peers", v.name, v.pubkey.hex());
  }
  for (const auto& [i, v] : before) {
    if (!after.contains(i))
      spdlog::info("validator {} ({}) leaves this node's peers", v.name, v.pubkey.hex());
  }
  if (Status s = transport_->set_peers(std::move(wanted)); !s.ok()) {
    spdlog::error("cannot update the peer list from the validator schedule: {}", s.message());
  }
}

std::string Node::peer_name(p2p::PeerIndex peer) const {
  std::lock_guard lock(mutex_);
  const auto it = peers_.find(peer);
  return it == peers_.end() ? "#" + std::to_string(peer) : it->second.name;
}

std::optional<audit::GenesisValidator> Node::peer_validator(p2p::PeerIndex peer) const {
  std::lock_guard lock(mutex_);
  const auto it = peers_.find(peer);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

std::size_t Node::configured_peers() const {
  std::lock_guard lock(mutex_);
  return peers_.size();
}

namespace {
Result<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos)
    return error(ErrorCode::invalid_argument, "address '" + address + "' lacks a port");
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return error(ErrorCode::invalid_argument, "address '" + address + "' has an invalid port");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, static_cast<std::uint16_t>(std::stoul(port)));
}
}  // namespace

std::uint16_t Node::rpc_port() const { return rpc_server_ ? rpc_server_->port() : 0; }

Status Node::start(std::size_t threads) {
  auto rpc_address = split_host_port(config_.rpc_listen);
  if (!rpc_address)
    return error(rpc_address.status().code(), "rpc.listen: " + rpc_address.status().message());
  auto dispatcher = std::make_shared<rpc::Dispatcher>();
  register_rpc_methods(*dispatcher, *this);
  rpc::ServerConfig rc;
  rc.bind_address = rpc_address->first;
  rc.port = rpc_address->second;
  rc.body_limit_bytes = config_.rpc_max_body_bytes;
  rc.handler_threads = 4;
  rpc_server_ = std::make_unique<rpc::Server>(rpc_io_, dispatcher, rc);
  rpc_server_->add_get_route("/metrics", [this](std::string_view) {
    return rpc::HttpResponse{200, rpc::metrics_content_type, metrics_text()};
  });
  rpc_server_->add_get_route("/explorer", explorer_response, explorer_headers());
  rpc_server_->set_readiness([this] {
    const auto s = status();
    if (s.peers == 0 && configured_peers() > 0) return rpc::Readiness{false, "no peers connected"};
    if (s.syncing) return rpc::Readiness{false, "syncing: height " + std::to_string(s.height)};
    return rpc::Readiness{true, ""};
  });
  CL_TRY(rpc_server_->start());
  threads_.emplace_back([this] { rpc_io_.run(); });
  verify_work_.emplace(verify_io_.get_executor());
  for (unsigned i = 0; i < std::clamp(std::thread::hardware_concurrency(), 1u, 4u); ++i) {
    threads_.emplace_back([this] {
      // Below the consensus threads: under a flood of gossip the height in
      // progress (validate, commit, vote) must not wait for its CPU share.
      // Failing to lower it only costs latency, so the result is ignored.
      errno = 0;
      const int base = getpriority(PRIO_PROCESS, 0);
      if (errno == 0) {
        (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), std::min(base + verify_thread_nice, 19));
      }
      verify_io_.run();
    });
  }
  spdlog::info("JSON-RPC on http://{}:{}", rpc_address->first, rpc_server_->port());

  CL_TRY(transport_->start());
  transport_->set_local_height(store_->last_height());
  heartbeat_ = std::make_unique<asio::steady_timer>(strand_);
  asio::post(strand_, [this] {
    height_started_ms_ = steady_ms();
    feed(consensus::Start{});
  });
  for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) {
    threads_.emplace_back([this] {
      try {
        io_.run();
      } catch (const std::exception& e) {
        fatal(error(ErrorCode::internal, std::string("unexpected exception: ") + e.what()));
      }
    });
  }
  spdlog::info("listening for peers on {}", config_.p2p_listen);
  return {};
}

void Node::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  spdlog::info("stopping");
  if (rpc_server_) rpc_server_->stop();
  if (transport_) transport_->stop();
  io_.stop();
  rpc_io_.stop();
  verify_io_.stop();
  stopped_cv_.notify_all();
}

void Node::fatal(const Status& status) {
  spdlog::critical("{}; stopping the node", status.to_string());
  {
    std::lock_guard lock(mutex_);
    if (exit_status_.ok()) exit_status_ = status;
  }
  stop();
}

Status Node::wait() {
  std::unique_lock lock(mutex_);
  stopped_cv_.wait(lock, [this] { return stopped_; });
  lock.unlock();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  std::lock_guard relock(mutex_);
  return exit_status_;
}

std::uint64_t Node::steady_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::uint64_t Node::now_ms() const {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// ------------------------------------------------------------------ consensus

void Node::feed(consensus::Input input) { execute(core_->handle(input)); }

void Node::execute(std::vector<consensus::Output> outputs) {
  for (auto& output : outputs) {
    std::visit(
        overloaded{
            [&](consensus::Broadcast& b) {
              if (!outbound_hook_ || !outbound_hook_(b.envelope)) transport_->broadcast(b.envelope);
            },
            [&](consensus::ScheduleTimeout& t) {
              auto timer =
                  std::make_shared<asio::steady_timer>(strand_, std::chrono::milliseconds(t.duration_ms));
              timer->async_wait([this, timer, t](const boost::system::error_code& ec) {
                if (!ec) feed(consensus::TimeoutFired{t.height, t.round, t.step});
              });
            },
            [&](consensus::ValidateBlock& v) {
              const std::uint64_t started = steady_ms();
              Status s = app_->validate_block(v.block, now_ms());
              if (!s.ok())
                spdlog::warn("block {} at height {} refused: {}", v.block_id.hex(), v.height, s.message());
              spdlog::debug("validated block {} ({} transactions) in {} ms", v.height, v.block.txs_size(),
                            steady_ms() - started);
              if (s.ok()) keep_block(v.block);
              feed(consensus::BlockValidated{v.height, v.block_id, s.ok()});
            },
            [&](consensus::BuildBlock& b) {
              const auto proposer = chain_->validator_set_at(b.height).index_of(key_->public_key());
              CL_CHECK(proposer.has_value());  // the core proposes only as a member of the set
              const std::uint64_t started = steady_ms();
              pb::Block block = app_->build_block(b.height, b.last_commit, *proposer, now_ms());
              spdlog::debug("proposing block {} round {} with {} transactions (built in {} ms)", b.height,
                            b.round, block.txs_size(), steady_ms() - started);
              keep_block(block);
              feed(consensus::BlockBuilt{b.height, b.round, std::move(block)});
            },
            [&](consensus::Persist& p) {
              Status s = sign_state_->save(p.state);
              if (!s.ok())
                return fatal(error(s.code(), "cannot persist the double-sign guard: " + s.message()));
              feed(consensus::Persisted{p.state});
            },
            [&](consensus::Commit& c) { on_commit(c); },
            [&](consensus::RequestCommittedBlock& r) { request_blocks(r.height); },
            [&](consensus::EvidenceFound& e) {
              // Throttled per validator (the core checked the index): one
              // equivocating validator can produce hundreds of pairs a height.
              const std::uint32_t validator = e.evidence.first().validator_index();
              if (auto held_back = log_throttle_.admit("equivocation-" + std::to_string(validator))) {
                // The index is in the set in charge of the vote's height.
                const auto set =
                    chain_->validators_at(std::max<std::uint64_t>(e.evidence.first().height(), 1));
                spdlog::warn(
                    "equivocation: validator {} signed two different votes at height {} round {} ({}){}",
                    validator, e.evidence.first().height(), e.evidence.first().round(),
                    validator < set.size() ? set[validator].name : std::string("?"),
                    held_back_note(*held_back));
              }
              std::lock_guard lock(mutex_);
              evidence_.add(e.evidence);
            },
        },
        output);
  }
  std::lock_guard lock(mutex_);
  round_ = core_->round();
  core_stats_ = core_->stats();
}

void Node::on_commit(const consensus::Commit& commit) {
  const std::uint64_t height = commit.block.header().height();
  const std::uint64_t log_size_before = store_->log_size();
  std::vector<std::uint64_t> admitted_ms;
  const std::uint64_t started = steady_ms();
  std::vector<Hash32> tx_hashes;
  Status s = app_->commit(commit.block, commit.certificate, &admitted_ms, &tx_hashes);
  const std::uint64_t stored_ms = steady_ms() - started;
  if (!s.ok()) {
    if (s.code() == ErrorCode::io_error) return fatal(error(s.code(), "cannot store block: " + s.message()));
    // A block with a valid certificate that does not fit our chain means our
    // store or the network is broken: never continue on a fork.
    return fatal(
        error(s.code(), "committed block " + std::to_string(height) + " does not apply: " + s.message()));
  }
  kept_blocks_->prune_through(height);
  // A full disk stops the node between blocks, with the numbers, before a
  // RocksDB flush or a sign-state write fails half-way. At most every 100 ms.
  if (const std::uint64_t now = steady_ms(); now - free_space_checked_ms_ >= 100) {
    free_space_checked_ms_ = now;
    if (Status space = check_free_space(); !space.ok()) return fatal(space);
  }
  const auto head = store_->head();
  {
    const std::uint64_t now = steady_ms();
    std::vector<double> latencies;
    latencies.reserve(admitted_ms.size());
    for (std::uint64_t t : admitted_ms)
      latencies.push_back(static_cast<double>(now - std::min(now, t)) / 1000.0);
    metrics_.on_commit(static_cast<std::uint64_t>(commit.block.txs_size()), head.log.size - log_size_before,
                       latencies, static_cast<double>(now - std::min(now, height_started_ms_)) / 1000.0);
  }
  spdlog::info("committed block {} ({} txs, log size {}) {}", height, commit.block.txs_size(), head.log.size,
               head.block_hash.hex().substr(0, 16));
  spdlog::debug("block {}: round {}, stored in {} ms, {} ms since the height began", height,
                commit.certificate.round(), stored_ms,
                steady_ms() - std::min(steady_ms(), height_started_ms_));
  transport_->set_local_height(height);
  explorer_stats_->record_block(height, commit.block.header().time_unix_ms(), head.log.size - log_size_before,
                                certificate_signers(commit.certificate, *chain_));
  rpc_server_->publish("blocks", {{"height", height},
                                  {"hash", head.block_hash.hex()},
                                  {"tx_count", commit.block.txs_size()},
                                  {"tree_size", head.log.size},
                                  {"tree_root", head.log.root.hex()}});

  // Tell waiting clients: the block is durably stored now.
  std::vector<std::function<void(std::optional<std::uint64_t>)>> ready;
  {
    std::lock_guard lock(mutex_);
    for (const Hash32& tx : tx_hashes) {
      auto range = commit_waiters_.equal_range(tx);
      for (auto it = range.first; it != range.second; ++it) ready.push_back(std::move(it->second));
      commit_waiters_.erase(range.first, range.second);
    }
  }
  for (auto& done : ready) done(height);

  // Sign and gossip the checkpoint.
  std::optional<pb::CheckpointSignature> own;
  {
    std::lock_guard lock(mutex_);
    own = checkpoints_->on_commit(height, head.log.size, head.log.root, head.block_hash,
                                  chain_->validator_set_at(height), &*key_);
  }
  if (own) metrics_.on_checkpoint_signature();
  store_final_checkpoints();
  if (own) {
    pb::Envelope e;
    *e.mutable_checkpoint_signature() = *own;
    transport_->broadcast(e);
  }
  refresh_peers();
  maybe_write_state_snapshot(height, head.block_hash);
  finish_height(height);
}

// After a commit, the next height starts at once when there is work (queued
// transactions, blocks to catch up on, peers ahead); otherwise after the
// heartbeat interval, so an idle network makes no stream of empty blocks.
void Node::finish_height(std::uint64_t height) {
  holding_height_ = height;
  catch_up_.erase(catch_up_.begin(), catch_up_.upper_bound(height));
  // Armed before maybe_start_next_height(), which may move on at once and
  // commit further heights (catch-up) from inside this call.
  heartbeat_->expires_after(std::chrono::milliseconds(config_.empty_block_interval_ms));
  heartbeat_->async_wait([this, height](const boost::system::error_code& ec) {
    if (ec || holding_height_ != height) return;
    holding_height_.reset();
    start_height_after(height);
  });
  maybe_start_next_height();
}

void Node::maybe_start_next_height() {
  if (!holding_height_) return;
  bool peers_ahead = false;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [peer, h] : peer_heights_) peers_ahead = peers_ahead || h > *holding_height_;
  }
  if (mempool_->size() == 0 && catch_up_.empty() && !peers_ahead) return;
  const std::uint64_t height = *holding_height_;
  holding_height_.reset();
  heartbeat_->cancel();
  start_height_after(height);
  // Blocks fetched from peers apply one height at a time.
  if (auto it = catch_up_.find(height + 1); it != catch_up_.end()) {
    pb::CommittedBlock committed = std::move(it->second);
    catch_up_.erase(it);
    feed(consensus::CommittedBlockReceived{std::move(committed)});
  }
}

std::string Node::held_back_note(std::uint64_t held_back) {
  return held_back == 0
             ? std::string()
             : " (and " + std::to_string(held_back) + " more like it not logged in the last second)";
}

// Consensus messages the core refused, with the peer that relayed them: the
// ones only a faulty or malicious validator sends are warnings; the ones any
// honest network produces (late, duplicate, early) are debug lines.
void Node::log_drops(p2p::PeerIndex peer, const char* what, const DropCounts& before) {
  const auto& after = core_->stats().dropped;
  for (std::size_t r = 0; r < after.size(); ++r) {
    if (after[r] == before[r]) continue;
    const auto reason = static_cast<consensus::DropReason>(r);
    const char* name = consensus::drop_reason_name(reason);
    const bool benign =
        reason == consensus::DropReason::old_height || reason == consensus::DropReason::future_height ||
        reason == consensus::DropReason::future_round || reason == consensus::DropReason::duplicate;
    if (benign) {
      spdlog::debug("{} from peer {} dropped: {}", what, peer_name(peer), name);
    } else if (auto held_back = log_throttle_.admit(std::string("drop-") + what + name)) {
      spdlog::warn("{} relayed by peer {} refused: {}{}", what, peer_name(peer), name,
                   held_back_note(*held_back));
    }
  }
}

void Node::start_height_after(std::uint64_t height) {
  height_started_ms_ = steady_ms();
  feed(consensus::CommitApplied{height, chain_->validator_set_at(height + 1)});
}

void Node::request_blocks(std::uint64_t from_height) {
  const std::uint64_t now = now_ms();
  if (now - last_block_request_ms_ < block_request_interval_ms) {
    spdlog::debug("block request from {} skipped: asked {} ms ago", from_height,
                  now - last_block_request_ms_);
    return;
  }
  last_block_request_ms_ = now;
  pb::Envelope e;
  e.mutable_block_request()->set_from_height(from_height);
  e.mutable_block_request()->set_max_blocks(blocks_per_response_max);
  // Ask the peer that claims the most blocks; all peers when none is known.
  std::optional<p2p::PeerIndex> best;
  std::uint64_t best_height = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [peer, h] : peer_heights_) {
      if (h >= from_height && h > best_height) {
        best = peer;
        best_height = h;
      }
    }
  }
  spdlog::info("catching up: requesting blocks from {}", from_height);
  if (best) {
    transport_->send(*best, e);
  } else {
    transport_->broadcast(e);
  }
}

void Node::handle_block_response(const pb::BlockResponse& response) {
  const std::uint64_t next = store_->last_height() + 1;
  for (const auto& committed : response.blocks()) {
    const std::uint64_t h = committed.block().header().height();
    if (h < next || catch_up_.size() >= blocks_per_response_max * 4) continue;
    catch_up_.emplace(h, committed);
  }
  if (holding_height_) {
    maybe_start_next_height();
  } else if (auto it = catch_up_.find(next); it != catch_up_.end()) {
    pb::CommittedBlock committed = std::move(it->second);
    catch_up_.erase(it);
    feed(consensus::CommittedBlockReceived{std::move(committed)});
  }
  if (!response.blocks().empty() && catch_up_.empty()) {
    // Maybe more remain: the next response continues from there.
    last_block_request_ms_ = 0;
  }
}

// ------------------------------------------------------------------ network

void Node::on_peer_connected(p2p::PeerIndex peer, const pb::Hello& hello) {
  spdlog::info("peer {} connected at height {}", peer_name(peer), hello.height());
  {
    std::lock_guard lock(mutex_);
    peer_heights_[peer] = hello.height();
  }
  if (hello.height() > store_->last_height()) {
    asio::post(strand_, [this] { request_blocks(store_->last_height() + 1); });
  }
}

void Node::on_peer_disconnected(p2p::PeerIndex peer, const std::string& reason) {
  spdlog::info("peer {} disconnected: {}", peer_name(peer), reason);
  std::lock_guard lock(mutex_);
  peer_heights_.erase(peer);
}

void Node::on_message(p2p::PeerIndex peer, pb::Envelope envelope) {
  switch (envelope.payload_case()) {
    case pb::Envelope::kHello: {
      const std::uint64_t h = envelope.hello().height();
      {
        std::lock_guard lock(mutex_);
        peer_heights_[peer] = h;
      }
      if (h > store_->last_height()) {
        asio::post(strand_, [this] {
          if (holding_height_) maybe_start_next_height();
          request_blocks(store_->last_height() + 1);
        });
      }
      break;
    }
    case pb::Envelope::kProposal:
      asio::post(strand_, [this, peer, m = std::move(*envelope.mutable_proposal())]() mutable {
        if (holding_height_) maybe_start_next_height();
        const auto before = core_->stats().dropped;
        feed(consensus::ProposalReceived{std::move(m)});
        log_drops(peer, "proposal", before);
      });
      break;
    case pb::Envelope::kVote:
      asio::post(strand_, [this, peer, v = std::move(*envelope.mutable_vote())]() mutable {
        const auto before = core_->stats().dropped;
        feed(consensus::VoteReceived{std::move(v)});
        log_drops(peer, "vote", before);
      });
      break;
    case pb::Envelope::kTx: {
      // Gossip is best effort: past the backlog bound a transaction is left
      // to its origin, which proposes it or relays it in a proposal (where
      // this node verifies it then). Never a reason to stall the connection.
      const std::size_t bytes = envelope.tx().ByteSizeLong();
      // Both counters are raised before either is judged, so undoing both is right.
      const bool over_count = gossip_backlog_.fetch_add(1) >= gossip_backlog_max;
      const bool over_bytes = gossip_backlog_bytes_.fetch_add(bytes) + bytes > gossip_backlog_bytes_max;
      if (over_count || over_bytes) {
        gossip_backlog_.fetch_sub(1);
        gossip_backlog_bytes_.fetch_sub(bytes);
        metrics_.on_tx_refused(TxSource::peer, "backlog");
        if (auto held_back = log_throttle_.admit("peer-tx-backlog")) {
          spdlog::info("transaction from peer {} not verified: the gossip backlog is full{}", peer_name(peer),
                       held_back_note(*held_back));
        }
        break;
      }
      asio::post(verify_io_, [this, peer, bytes, tx = std::move(*envelope.mutable_tx())] {
        admit_gossiped_tx(peer, tx);
        gossip_backlog_.fetch_sub(1);
        gossip_backlog_bytes_.fetch_sub(bytes);
      });
      break;
    }
    case pb::Envelope::kBlockRequest: {
      const auto& r = envelope.block_request();
      pb::Envelope out;
      auto* response = out.mutable_block_response();
      std::size_t bytes = 0;
      const std::uint64_t last = store_->last_height();
      const std::uint32_t count =
          std::min(std::max<std::uint32_t>(r.max_blocks(), 1), blocks_per_response_max);
      for (std::uint64_t h = std::max<std::uint64_t>(r.from_height(), 1);
           h <= last && h < r.from_height() + count; ++h) {
        auto block = store_->get_block(h);
        auto commit = store_->get_commit(h);
        if (!block || !commit) break;
        bytes += block->ByteSizeLong();
        if (bytes > block_response_bytes_max && response->blocks_size() > 0) break;
        auto* c = response->add_blocks();
        *c->mutable_block() = std::move(*block);
        *c->mutable_commit() = std::move(*commit);
      }
      transport_->send(peer, out);
      break;
    }
    case pb::Envelope::kBlockResponse:
      asio::post(strand_,
                 [this, r = std::move(*envelope.mutable_block_response())] { handle_block_response(r); });
      break;
    case pb::Envelope::kCheckpointSignature: {
      bool added = false;
      {
        std::lock_guard lock(mutex_);
        added = checkpoints_->add(envelope.checkpoint_signature());
      }
      if (added) metrics_.on_checkpoint_signature();
      store_final_checkpoints();
      break;
    }
    case pb::Envelope::PAYLOAD_NOT_SET:
      break;
  }
}

// ------------------------------------------------------------------ RPC side

NodeStatus Node::status() const {
  NodeStatus s;
  s.chain_id = genesis_.chain_id;
  s.name = config_.name;
  const auto head = store_->head();
  s.height = head.height;
  s.last_block_hash = head.block_hash;
  s.tree_size = head.log.size;
  s.tree_root = head.log.root;
  s.mempool_txs = mempool_->size();
  std::lock_guard lock(mutex_);
  s.consensus_round = round_;
  s.peers = peer_heights_.size();
  for (const auto& [peer, h] : peer_heights_) s.syncing = s.syncing || h > head.height + 1;
  return s;
}

void Node::admit_gossiped_tx(p2p::PeerIndex peer, const pb::Transaction& tx) {
  auto added = mempool_->add(tx, steady_ms());
  if (added) return nudge_next_height();
  if (added.status().code() == ErrorCode::already_exists) return;
  const char* reason = error_code_name(added.status().code());
  metrics_.on_tx_refused(TxSource::peer, reason);
  if (auto held_back = log_throttle_.admit(std::string("peer-tx-") + reason)) {
    spdlog::info("transaction from peer {} refused: {}{}", peer_name(peer), added.status().message(),
                 held_back_note(*held_back));
  }
}

void Node::nudge_next_height() {
  if (next_height_check_posted_.exchange(true)) return;
  asio::post(strand_, [this] {
    // Cleared first: a transaction admitted from here on posts a new check.
    next_height_check_posted_ = false;
    maybe_start_next_height();
  });
}

Result<Hash32> Node::admit_submitted(const pb::Transaction& tx, std::uint64_t now_ms, pb::Envelope& scratch) {
  auto added = mempool_->add(tx, now_ms);
  if (!added) {
    count_refused_submission(added.status());
    return added;
  }
  *scratch.mutable_tx() = tx;
  transport_->broadcast(scratch);
  return added;
}

void Node::count_refused_submission(const Status& status) {
  if (status.code() == ErrorCode::already_exists) return;
  const char* reason = error_code_name(status.code());
  metrics_.on_tx_refused(TxSource::rpc, reason);
  // The client gets the reason in its answer; the operator sees it here.
  if (auto held_back = log_throttle_.admit(std::string("rpc-tx-") + reason)) {
    spdlog::info("transaction submitted over RPC refused: {}{}", status.message(),
                 held_back_note(*held_back));
  }
}

Result<Hash32> Node::submit(const pb::Transaction& tx) {
  pb::Envelope scratch;
  auto added = admit_submitted(tx, steady_ms(), scratch);
  if (added) nudge_next_height();
  return added;
}

std::vector<Result<Hash32>> Node::submit_many(const std::vector<pb::Transaction>& txs) {
  std::vector<Result<Hash32>> results;
  results.reserve(txs.size());
  const std::uint64_t now = steady_ms();
  pb::Envelope scratch;
  bool any = false;
  for (const auto& tx : txs) {
    results.push_back(admit_submitted(tx, now, scratch));
    any = any || results.back().ok();
  }
  if (any) nudge_next_height();
  return results;
}

void Node::when_committed(const Hash32& tx_hash, std::uint64_t timeout_ms,
                          std::function<void(std::optional<std::uint64_t>)> done) {
  if (auto location = store_->find_tx(tx_hash); location.ok()) return done(location->height);
  auto shared = std::make_shared<std::function<void(std::optional<std::uint64_t>)>>(std::move(done));
  auto fired = std::make_shared<std::atomic<bool>>(false);
  auto once = [shared, fired](std::optional<std::uint64_t> h) {
    if (!fired->exchange(true)) (*shared)(h);
  };
  {
    std::lock_guard lock(mutex_);
    commit_waiters_.emplace(tx_hash, once);
  }
  // A commit between find_tx and registering must not be missed.
  if (auto location = store_->find_tx(tx_hash); location.ok()) return once(location->height);
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(timeout_ms));
  timer->async_wait([timer, once](const boost::system::error_code&) { once(std::nullopt); });
}

Status Node::check_free_space() const {
  if (config_.disk_min_free_mib == 0) return {};
  const auto dir = config_.path(config_.data_dir);
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) {
    return error(ErrorCode::io_error, "cannot read the free space of " + dir.string() + ": " +
                                          std::error_code(errno, std::generic_category()).message());
  }
  const std::uint64_t free_mib = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize / (1u << 20);
  if (free_mib >= config_.disk_min_free_mib) return {};
  return error(ErrorCode::io_error,
               "No space left on device for the ledger: " + std::to_string(free_mib) +
                   " MiB free on the file system of " + dir.string() +
                   ", below [disk] min_free_mib = " + std::to_string(config_.disk_min_free_mib) +
                   " (free some space, or give the data directory a larger disk, then start again)");
}

// Kept before the core hears "built" or "valid" (node/block_keeper.hpp). A
// failed write costs only liveness after a crash, never safety: go on.
void Node::keep_block(const pb::Block& block) {
  if (Status s = kept_blocks_->keep(block); !s.ok()) {
    spdlog::warn("cannot keep block {} for a restart: {}", block.header().height(), s.message());
  }
}

// Final checkpoints go to the ledger as they form, so a restarted node still
// serves them (and proofs at their sizes), and to the WebSocket subscribers of
// "checkpoints". A failed write is logged, not fatal: the block itself is
// stored, and peers hold the signatures too.
void Node::store_final_checkpoints() {
  std::vector<CheckpointCollector::Changed> changed;
  {
    std::lock_guard lock(mutex_);
    changed = checkpoints_->take_changed();
  }
  for (const auto& c : changed) {
    if (Status s = store_->put_checkpoint(c.height, c.checkpoint, c.tree_size); !s.ok()) {
      spdlog::warn("cannot store the final checkpoint of block {}: {}", c.height, s.message());
    }
    // Every checkpoint that became final (or gained a signature), also when
    // this node's own signature completed it at its commit.
    rpc_server_->publish("checkpoints", checkpoint_json(c.checkpoint));
  }
}

// In memory first (the newest heights), then the ledger (older ones, and
// every one from before a restart).
std::optional<pb::Checkpoint> Node::checkpoint_at_size(std::uint64_t tree_size) const {
  {
    std::lock_guard lock(mutex_);
    if (auto cp = checkpoints_->final_at_size(tree_size)) return cp;
  }
  if (auto cp = store_->checkpoint_at_size(tree_size); cp.ok()) return std::move(*cp);
  return std::nullopt;
}

std::optional<pb::Checkpoint> Node::checkpoint_at_height(std::uint64_t height) const {
  {
    std::lock_guard lock(mutex_);
    if (auto cp = checkpoints_->final_at_height(height)) return cp;
  }
  if (auto cp = store_->checkpoint_at_height(height); cp.ok()) return std::move(*cp);
  return std::nullopt;
}

std::optional<pb::Checkpoint> Node::latest_checkpoint() const {
  {
    std::lock_guard lock(mutex_);
    if (auto cp = checkpoints_->latest_final()) return cp;
  }
  if (auto cp = store_->latest_checkpoint(); cp.ok()) return std::move(*cp);
  return std::nullopt;
}

std::string Node::metrics_text() const {
  NodeMetricsSnapshot s;
  const auto st = status();
  s.height = st.height;
  s.round = st.consensus_round;
  s.log_size = st.tree_size;
  s.validators = chain_->validator_set_at(chain_->height() + 1).size();
  s.peers_connected = st.peers;
  s.syncing = st.syncing;
  s.mempool_txs = st.mempool_txs;
  s.mempool_bytes = mempool_->bytes();
  s.store_bytes = store_->disk_usage_bytes();
  if (transport_) s.transport = transport_->metrics();
  if (rpc_server_) s.rpc = rpc_server_->stats();
  {
    std::lock_guard lock(mutex_);
    s.evidence = evidence_.total();
    s.consensus = core_stats_;
  }
  return metrics_.render(s);
}

std::map<p2p::PeerIndex, std::uint64_t> Node::peer_heights() const {
  std::lock_guard lock(mutex_);
  return peer_heights_;
}

std::vector<pb::DuplicateVoteEvidence> Node::evidence(std::size_t max) const {
  std::lock_guard lock(mutex_);
  return evidence_.newest(max);
}

std::uint64_t Node::evidence_count() const {
  std::lock_guard lock(mutex_);
  return evidence_.total();
}

}  // namespace cityledger::node
