// The `cityledger` CLI's shared pieces: exit codes, output, errors.
//
// Exit codes (a contract for auditors' scripts):
//   0  success
//   1  verification failed (verify, watch)
//   2  usage error, unreadable input, connection error, or the node refused
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "rpc/client.hpp"

namespace cityledger::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_verify_failed = 1;
inline constexpr int exit_error = 2;

// Node 0 of ./scripts/localnet.sh (base port 26600).
inline constexpr const char* default_rpc_url = "http://127.0.0.1:26601";

struct Global {
  std::string rpc_url = default_rpc_url;
  bool json = false;
};

// Prints "cityledger: <message>" to stderr and returns exit_error.
int fail(const std::string& message);
int fail(const Status& status);

// Writes a file via a temporary sibling, fsync and rename: a crash leaves the
// old file or the new one, never half of one. `mode` applies to a new file.
Status write_file_atomic(const std::filesystem::path& path, const std::string& content, unsigned mode = 0644);

// The same promise for many files at once, at the cost of one syncfs per file
// system instead of two fsyncs per file (for thousands of proof bundles):
// every file is written to its temporary sibling, the file systems holding
// them are synced, then each is renamed into place and each directory
// synced. A crash leaves each file old or new (and perhaps a stray
// "<name>.tmp"). On an error, no file was renamed unless the error says so;
// the temporary files are removed.
struct FileToWrite {
  std::filesystem::path path;
  std::string content;
};
Status write_files_atomic(std::span<const FileToWrite> files, unsigned mode = 0644);
Result<std::string> read_text_file(const std::filesystem::path& path, std::size_t limit);

void print_json(const nlohmann::json& value);

// The nonce the account `signer_hex` signs next (after its transactions still
// in the mempool). not_found names the key, the chain and `needs` (the role
// the action needs) when the key is no account.
Result<std::uint64_t> next_nonce(rpc::RpcClient& client, const std::string& signer_hex,
                                 const std::string& chain_id, const std::string& needs);

// submit_tx; with `wait`, asks again (each call waits at most the node's
// 60 s) until the transaction is committed or `timeout_s` has passed.
// The result: {"tx_hash", "height" once committed}.
Result<nlohmann::json> submit_transaction(rpc::RpcClient& client, const std::string& tx_hex, bool wait,
                                          double timeout_s);

// Proof bundles for many leaves: get_inclusion_proof calls, up to 100 per
// JSON-RPC batch (one HTTP request each). ask() asks for every pending leaf
// and keeps pending the ones whose answer is an error (a failed exchange is
// the error of each leaf of its batch), with that error in `bundles`.
struct ProofFetch {
  explicit ProofFetch(std::vector<std::uint64_t> leaves_to_prove);
  void ask(rpc::RpcClient& client);

  std::vector<std::uint64_t> leaves;
  std::vector<Result<nlohmann::json>> bundles;  // bundles[k] is leaves[k]'s
  std::vector<std::size_t> pending;             // the k not yet proved
};

// SHA-256 of each file, on up to `threads` threads (0: one per core, at most
// 8); results in the order of `paths`.
std::vector<Result<Hash32>> sha256_files(const std::vector<std::filesystem::path>& paths,
                                         unsigned threads = 0);

// "2026-11-29T09:46:00.913Z" for milliseconds since the Unix epoch.
std::string format_unix_ms(std::uint64_t unix_ms);

// ---- commands (each returns the process exit code)
int run_status(const Global& g);
int run_block(const Global& g, std::uint64_t height);
int run_tx(const Global& g, const std::string& hash);
int run_validators(const Global& g);

struct ProofOptions {
  std::string hash;
  std::optional<std::uint64_t> leaf_index;
  std::string out;
};
int run_proof(const Global& g, const ProofOptions& options);

struct AnchorOptions {
  std::string key;
  std::string dataset;
  std::vector<std::string> meta;  // k=v
  bool wait = false;
  std::string proof_dir;
  std::vector<std::string> files;
  bool records = false;      // anchor each file's lines as a record set
  std::size_t batch = 1000;  // entries per transaction
  double timeout_s = 120;    // for --wait: commit and covering checkpoint
};
int run_anchor(const Global& g, const AnchorOptions& options);

struct VerifyOptions {
  std::string genesis;
  std::string proof;
  std::string reveal;  // a `contract reveal` document instead of a bundle
  std::string file;
  std::optional<std::string> record_line;
};

struct ProveRecordOptions {
  std::string proof;       // a bundle for a record-set entry
  std::string records;     // the file whose records it anchors
  std::uint64_t line = 0;  // 1-based
  std::string out;
};
int run_prove_record(const Global& g, const ProveRecordOptions& options);
int run_verify(const Global& g, const VerifyOptions& options);

struct AgentOptions {
  std::string key;
  std::string watch;
  std::chrono::milliseconds interval{5000};
  std::size_t max_batch = 1000;
  std::string state;  // default: WATCH/.cityledger-agent.journal
  std::string proof_dir;
  std::string status_file;  // default: STATE.status.json
  std::string dataset;
  bool once = false;  // exit once everything present is anchored (and proved)
};
int run_agent(const Global& g, const AgentOptions& options);

// "5s", "500ms", "2m", "1h" (a bare number is seconds).
Result<std::chrono::milliseconds> parse_duration(const std::string& text);

struct WatchOptions {
  std::string genesis;
  std::string state;
  std::vector<std::string> nodes;  // empty: the global --rpc
  double interval_s = 10;
  bool once = false;
};
int run_watch(const Global& g, const WatchOptions& options);

// ---- PPP contracts (rpc/src/cli/contract.cpp, docs/contracts.md)

// How a contract action is signed and sent: with `out`, a draft file is
// written for the parties to co-sign (`contract cosign`) and nothing is sent;
// otherwise the co-signatures of `cosign_keys` are added and the transaction,
// signed with `key`, is submitted.
struct ContractSubmitOptions {
  std::string key;
  std::vector<std::string> cosign_keys;
  std::string out;
  std::string chain_id;  // for a draft; default: the node's
  bool wait = false;
  double timeout_s = 60;
};

struct ContractRegisterOptions {
  std::string id;
  std::string title;
  std::vector<std::string> parties;  // name=PUBKEY
  std::vector<std::string> rules;    // kind=party,party
  ContractSubmitOptions submit;
};
int run_contract_register(const Global& g, const ContractRegisterOptions& options);

struct ContractEventOptions {
  std::string id;
  std::string kind;
  std::string payload_file;
  std::string payload_hash;
  std::string amount;  // decimal, e.g. 1250.00
  std::string currency;
  std::vector<std::string> shares;     // party=PERCENT
  std::vector<std::string> documents;  // name=FILE or name=sha256:HEX
  std::vector<std::string> fields;     // name=value
  std::vector<std::string> sealed;     // name=value, only a salted commitment is anchored
  std::string salts_out;               // where the sealed fields' salts are kept (needed for reveal)
  ContractSubmitOptions submit;
};
int run_contract_event(const Global& g, const ContractEventOptions& options);

int run_contract_cosign(const Global& g, const std::string& key, const std::string& draft);
int run_contract_submit(const Global& g, const std::string& draft, const ContractSubmitOptions& options);
int run_contract_show(const Global& g, const std::string& id);
int run_contract_events(const Global& g, const std::string& id, const std::string& proof_dir);

struct ContractRevealOptions {
  std::string salts;  // the file `contract event --salts-out` wrote
  std::string field;
  std::string out;
};
int run_contract_reveal(const Global& g, const ContractRevealOptions& options);

// ---- governance (docs/governance.md)
struct GovProposeOptions {
  std::string action;  // add-validator, remove-validator, rotate-keys, roles, block-limits
  std::string out;
  std::string chain_id;  // default: the node's
  std::string set_hash;  // default: the node's validator_set_hash
  std::string memo;
  std::uint64_t effective_height = 0;
  std::string name, pubkey, tls_pubkey, p2p;  // add-validator (pubkey also remove / rotate)
  std::string new_pubkey, new_tls_pubkey;     // rotate-keys
  std::string account;                        // roles
  std::vector<std::string> grant, revoke;     // roles
  std::uint32_t max_txs = 0;                  // block-limits
  std::uint64_t max_bytes = 0;
};
int run_gov_propose(const Global& g, const GovProposeOptions& options);

struct GovSignOptions {
  std::string proposal;
  std::string key;
};
int run_gov_sign(const Global& g, const GovSignOptions& options);
int run_gov_show(const Global& g, const std::string& proposal);

struct GovSubmitOptions {
  std::string proposal;
  std::string key;
  bool wait = false;
  double timeout_s = 60;
};
int run_gov_submit(const Global& g, const GovSubmitOptions& options);

}  // namespace cityledger::cli
