// The validator process: wires the consensus core to the network, the ledger,
// the mempool, the double-sign guard and timers (docs/node.md).
//
// Threads: one io_context run by a few threads. The transport and the RPC
// server live on it; every consensus input and every action on the ledger's
// write side runs on one strand (the "consensus strand"), so the core, the
// application and the checkpoint collector are never entered concurrently.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "audit/genesis.hpp"
#include "consensus/core.hpp"
#include "ledger/store.hpp"
#include "node/application.hpp"
#include "node/block_keeper.hpp"
#include "node/chain_state.hpp"
#include "node/checkpoints.hpp"
#include "node/config.hpp"
#include "node/evidence_log.hpp"
#include "node/explorer_stats.hpp"
#include "node/logging.hpp"
#include "node/mempool.hpp"
#include "node/metrics.hpp"
#include "node/p2p/transport.hpp"
#include "node/sign_guard.hpp"
#include "rpc/server.hpp"

namespace cityledger::node {

struct NodeStatus {
  std::string chain_id;
  std::string name;
  std::uint64_t height = 0;  // last committed
  Hash32 last_block_hash;
  std::uint64_t tree_size = 0;
  Hash32 tree_root;
  std::uint32_t consensus_round = 0;
  std::size_t peers = 0;
  bool syncing = false;
  std::size_t mempool_txs = 0;
};

class Node final : public p2p::TransportHandler {
 public:
  // Loads genesis and keys, opens (and checks) the store and the sign state.
  static Result<std::unique_ptr<Node>> open(const NodeConfig& config);
  ~Node() override;

  // Starts the network, the RPC server and consensus on `threads` threads.
  Status start(std::size_t threads = 2);
  // Stops everything; safe from any thread, idempotent.
  void stop();
  // Blocks until stop() (or a fatal error) ends the node. The status says why.
  Status wait();

  // ---- for the RPC layer (any thread)
  NodeStatus status() const;
  // Admits a transaction to the mempool and gossips it.
  Result<Hash32> submit(const pb::Transaction& tx);
  // The bulk path (submit_txs): admits each transaction in order and gossips
  // the admitted ones; one answer per transaction, in the same order.
  std::vector<Result<Hash32>> submit_many(const std::vector<pb::Transaction>& txs);
  // Calls `done` (on some io thread) once the transaction is committed (height)
  // or after timeout_ms (nullopt).
  void when_committed(const Hash32& tx_hash, std::uint64_t timeout_ms,
                      std::function<void(std::optional<std::uint64_t>)> done);
  std::optional<pb::Checkpoint> checkpoint_at_size(std::uint64_t tree_size) const;
  std::optional<pb::Checkpoint> checkpoint_at_height(std::uint64_t height) const;
  std::optional<pb::Checkpoint> latest_checkpoint() const;
  // Equivocation evidence: the newest `max` records kept (oldest first), and
  // how many were seen since start (node/evidence_log.hpp: bounded).
  std::vector<pb::DuplicateVoteEvidence> evidence(std::size_t max) const;
  std::uint64_t evidence_count() const;
  // GET /metrics: Prometheus text format (node/metrics.hpp).
  std::string metrics_text() const;
  std::optional<AccountState> account(const crypto::PublicKey& key) const { return chain_->account(key); }
  const ContractBook& contracts() const { return chain_->contracts(); }
  // The committed state's validator schedule and governance (docs/governance.md).
  const ChainState& chain() const { return *chain_; }
  std::uint64_t next_pending_nonce(const crypto::PublicKey& key, std::uint64_t next_nonce) const {
    return mempool_->next_pending_nonce(key, next_nonce);
  }
  // The JSON-RPC port, once started (useful with port 0).
  std::uint16_t rpc_port() const;
  const ledger::Store& store() const { return *store_; }
  const audit::Genesis& genesis() const { return genesis_; }
  // For the explorer: anchors per minute and validators' recent precommits.
  const ExplorerStats& explorer_stats() const { return *explorer_stats_; }
  // Connected peers and the height each last announced; this node's own index.
  // A peer index is the validator's genesis index for genesis validators;
  // validators added by governance are numbered after them (peer_validator()).
  std::map<p2p::PeerIndex, std::uint64_t> peer_heights() const;
  // The validator a peer index stands for (nullopt: not a configured peer).
  std::optional<audit::GenesisValidator> peer_validator(p2p::PeerIndex peer) const;
  // How many peers this node is configured to connect to now: every validator
  // of the set in charge of the next height and of every scheduled set, but itself.
  std::size_t configured_peers() const;
  std::optional<std::uint32_t> self_index() const { return self_index_; }
  // This node's consensus key.
  crypto::PublicKey validator_key() const { return key_->public_key(); }
  boost::asio::io_context& io() { return io_; }

  // ---- test seam (docs/testing.md, "Byzantine mode"); cityledgerd never sets it.
  // When set, every envelope the consensus core asks to broadcast goes to the
  // hook first, on the consensus strand; the hook returns true when it has
  // sent (or withheld) the envelope itself, false to let the node broadcast
  // it. Set before start(). Unset, it costs one test of an empty function.
  using OutboundHook = std::function<bool(const pb::Envelope&)>;
  void set_outbound_hook(OutboundHook hook) { outbound_hook_ = std::move(hook); }
  // For the hook: per-peer sends (valid after open()).
  p2p::Transport& transport() { return *transport_; }

  // ---- p2p::TransportHandler (transport strand)
  void on_peer_connected(p2p::PeerIndex peer, const pb::Hello& hello) override;
  void on_peer_disconnected(p2p::PeerIndex peer, const std::string& reason) override;
  void on_message(p2p::PeerIndex peer, pb::Envelope envelope) override;

 private:
  Node(NodeConfig config, audit::Genesis genesis);

  // Consensus strand only.
  void feed(consensus::Input input);
  void execute(std::vector<consensus::Output> outputs);
  void on_commit(const consensus::Commit& commit);
  void finish_height(std::uint64_t height);
  void maybe_start_next_height();
  void request_blocks(std::uint64_t from_height);
  void handle_block_response(const pb::BlockResponse& response);
  void fatal(const Status& status);
  std::uint64_t now_ms() const;
  static std::uint64_t steady_ms();
  using DropCounts = decltype(consensus::Stats::dropped);
  void log_drops(p2p::PeerIndex peer, const char* what, const DropCounts& before);
  static std::string held_back_note(std::uint64_t held_back);
  // Any thread, after the mempool grew: asks the consensus strand to check
  // whether a height held for lack of work can start. Coalesced: under load
  // one check serves every transaction admitted before it runs.
  void nudge_next_height();
  // submit()/submit_many(): admits one client transaction and gossips it
  // (`scratch` is reused between calls); refusals are counted and logged.
  Result<Hash32> admit_submitted(const pb::Transaction& tx, std::uint64_t now_ms, pb::Envelope& scratch);
  void count_refused_submission(const Status& status);
  // verify_io_: admits one transaction a peer gossiped.
  void admit_gossiped_tx(p2p::PeerIndex peer, const pb::Transaction& tx);
  // Consensus strand: the core moves to the height after `height`.
  void start_height_after(std::uint64_t height);
  // open(): the committed state (snapshot + later blocks, or every block).
  Status load_chain_state();
  std::filesystem::path state_snapshot_path() const;
  void maybe_write_state_snapshot(std::uint64_t height, const Hash32& block_hash);
  // The transport's peer list from the validator schedule (docs/p2p.md,
  // "Peers from the validator schedule"); consensus strand, or open().
  std::vector<p2p::PeerConfig> wanted_peers();
  // Consensus strand: hands the transport a changed peer list.
  void refresh_peers();
  std::string peer_name(p2p::PeerIndex peer) const;
  // Any thread: writes checkpoints that became final or gained signatures.
  void store_final_checkpoints();
  void keep_block(const pb::Block& block);
  // The data directory's file system has at least [disk] min_free_mib free
  // (io_error otherwise, with the numbers).
  Status check_free_space() const;

  NodeConfig config_;
  audit::Genesis genesis_;
  std::optional<crypto::SecretKey> key_;
  std::optional<std::uint32_t> self_index_;
  consensus::ValidatorSet validators_;

  boost::asio::io_context io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::vector<std::thread> threads_;

  std::unique_ptr<ledger::Store> store_;
  std::unique_ptr<ChainState> chain_;
  std::unique_ptr<Mempool> mempool_;
  std::unique_ptr<Application> app_;
  std::unique_ptr<SignStateFile> sign_state_;
  std::unique_ptr<BlockKeeper> kept_blocks_;
  std::unique_ptr<consensus::Bip340Verifier> verifier_;
  std::unique_ptr<consensus::Core> core_;
  std::unique_ptr<CheckpointCollector> checkpoints_;
  std::unique_ptr<ExplorerStats> explorer_stats_;
  std::unique_ptr<p2p::Transport> transport_;
  // The RPC server has its own io_context: slow clients and waiting
  // submit_tx calls never hold up consensus.
  boost::asio::io_context rpc_io_;
  // Transactions gossiped by peers are verified here, off the connections'
  // read path and off the consensus threads: a flood of gossip never delays
  // a proposal or a vote queued behind it (docs/performance.md).
  boost::asio::io_context verify_io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> verify_work_;
  // Signature checks of a proposal's transactions not yet verified here
  // (Application::set_parallel_for); the consensus thread works along.
  std::unique_ptr<boost::asio::thread_pool> block_pool_;
  std::atomic<std::size_t> gossip_backlog_{0};  // posted to verify_io_, not yet admitted or refused
  std::atomic<std::size_t> gossip_backlog_bytes_{0};
  std::unique_ptr<rpc::Server> rpc_server_;
  OutboundHook outbound_hook_;  // test seam, see set_outbound_hook()

  // Consensus-strand state.
  std::map<std::uint64_t, pb::CommittedBlock> catch_up_;  // fetched blocks waiting for their height
  std::optional<std::uint64_t> holding_height_;           // committed, waiting for work before moving on
  std::unique_ptr<boost::asio::steady_timer> heartbeat_;
  std::uint64_t height_started_ms_ = 0;  // steady_ms() when the current height began
  std::uint64_t last_block_request_ms_ = 0;
  std::uint64_t free_space_checked_ms_ = 0;
  Hash32 own_tls_pin_;
  // Peer indexes given out so far, by the validator's whole entry (a rotated
  // key or a moved address makes a new peer); genesis's take their index.
  std::map<std::string, p2p::PeerIndex> peer_index_of_;
  p2p::PeerIndex next_peer_index_ = 0;

  // Shared state (mutex_).
  mutable std::mutex mutex_;
  std::map<p2p::PeerIndex, std::uint64_t> peer_heights_;
  std::atomic<bool> next_height_check_posted_{false};
  std::map<p2p::PeerIndex, audit::GenesisValidator> peers_;  // the configured peers
  std::multimap<Hash32, std::function<void(std::optional<std::uint64_t>)>> commit_waiters_;
  EvidenceLog evidence_;
  std::uint32_t round_ = 0;
  consensus::Stats core_stats_;  // copied after each step of the core
  NodeMetrics metrics_;          // thread-safe itself
  LogThrottle log_throttle_;     // thread-safe itself
  bool stopped_ = false;
  Status exit_status_;
  std::condition_variable stopped_cv_;
};

}  // namespace cityledger::node
