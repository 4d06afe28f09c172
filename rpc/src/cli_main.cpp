// cityledger: the auditor's and the data platform's command-line tool.
// Exit codes: 0 success, 1 verification failed, 2 usage or connection error
// (rpc/src/cli/cli.hpp).
#include <CLI/CLI.hpp>
#include <iostream>

#include "audit/records.hpp"
#include "cli/cli.hpp"
#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"

using namespace cityledger;
using cli::exit_error;
using cli::exit_ok;

namespace {

int run_hash(const cli::Global& g, const std::vector<std::string>& files, unsigned threads, bool records) {
  int status = exit_ok;
  nlohmann::json out = nlohmann::json::array();
  std::vector<Result<Hash32>> digests;
  std::vector<std::uint64_t> counts(files.size(), 0);
  if (records) {
    // The record-set root that `anchor --records` anchors, and the record count.
    for (std::size_t i = 0; i < files.size(); ++i) {
      auto r = audit::read_record_file(files[i]);
      digests.push_back(r ? Result<Hash32>(r->root) : Result<Hash32>(r.status()));
      if (r) counts[i] = r->leaf_hashes.size();
    }
  } else {
    std::vector<std::filesystem::path> paths(files.begin(), files.end());
    digests = cli::sha256_files(paths, threads);
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& digest = digests[i];
    if (!digest) {
      std::cerr << "cityledger: " << digest.status().message() << "\n";
      status = exit_error;
      continue;
    }
    if (g.json) {
      nlohmann::json one = {{"file", files[i]}, {records ? "records_root" : "sha256", digest->hex()}};
      if (records) one["records"] = counts[i];
      out.push_back(one);
    } else {
      std::cout << digest->hex() << "  " << files[i];
      if (records) std::cout << "  (" << counts[i] << " records)";
      std::cout << "\n";
    }
  }
  if (g.json) cli::print_json(out);
  return status;
}

int run_keygen(const cli::Global& g, const std::string& out) {
  if (std::filesystem::exists(out)) return cli::fail(out + " exists; refusing to overwrite a key");
  auto key = crypto::SecretKey::generate();
  if (!key) return cli::fail(key.status());
  if (Status s = crypto::write_key_file(out, *key); !s.ok()) return cli::fail(s);
  if (g.json) {
    cli::print_json({{"key", out}, {"pubkey", key->public_key().hex()}});
  } else {
    std::cout << key->public_key().hex() << "\n";
  }
  return exit_ok;
}

int run_pubkey(const cli::Global& g, const std::string& in) {
  auto key = crypto::read_key_file(in);
  if (!key) return cli::fail(key.status());
  if (g.json) {
    cli::print_json({{"key", in}, {"pubkey", key->public_key().hex()}});
  } else {
    std::cout << key->public_key().hex() << "\n";
  }
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cityledger - anchor city data and verify its proofs\n"
      "exit codes: 0 success, 1 verification failed, 2 usage or connection error"};
  app.set_version_flag("--version", std::string("cityledger 0.1.0"));
  app.require_subcommand(1);

  cli::Global g;
  app.add_option("--rpc", g.rpc_url, "JSON-RPC address of a node")
      ->default_val(cli::default_rpc_url)
      ->envname("CITYLEDGER_RPC");
  app.add_flag("--json", g.json, "Machine-readable JSON output");

  std::vector<std::string> files;
  unsigned hash_threads = 0;
  bool hash_records = false;
  auto* hash = app.add_subcommand("hash", "Print the SHA-256 of files (what gets anchored)");
  hash->add_option("files", files, "Files to hash")->required()->check(CLI::ExistingFile);
  hash->add_option("--threads", hash_threads, "Hashing threads (default: one per core)");
  hash->add_flag("--records", hash_records, "Print the record-set root over each file's lines instead");

  std::string key_path;
  auto* keygen =
      app.add_subcommand("keygen", "Create a BIP340 secret key file (mode 0600) and print its public key");
  keygen->add_option("--out", key_path, "Where to write the key file")->required();

  auto* pubkey = app.add_subcommand("pubkey", "Print the public key of a key file");
  pubkey->add_option("--key", key_path, "Key file")->required();

  auto* status = app.add_subcommand("status", "The node's height, log size and root, peers");

  std::uint64_t height = 0;
  auto* block = app.add_subcommand("block", "A committed block");
  block->add_option("height", height, "Block height (from 1)")->required()->check(CLI::PositiveNumber);

  std::string tx_hash;
  auto* tx = app.add_subcommand("tx", "A committed transaction and where its anchors are in the log");
  tx->add_option("hash", tx_hash, "Transaction hash (64 hex)")->required();

  auto* validators = app.add_subcommand("validators", "The validator set and its quorum");

  cli::AnchorOptions anchor_opts;
  auto* anchor = app.add_subcommand("anchor", "Anchor the SHA-256 of files in signed batch transactions");
  anchor->add_option("--key", anchor_opts.key, "Secret key of an account with the submitter role")
      ->required();
  anchor->add_option("--dataset", anchor_opts.dataset, "Dataset id recorded with every entry");
  anchor->add_option("--meta", anchor_opts.meta, "key=value metadata for every entry (repeatable)");
  anchor->add_flag("--records", anchor_opts.records,
                   "Anchor each file's lines as records (RFC 9162 root), for record-level proofs");
  anchor->add_flag("--wait", anchor_opts.wait, "Wait until committed (and covered by a final checkpoint)");
  anchor->add_option("--proof-dir", anchor_opts.proof_dir,
                     "With --wait: write DIR/<file name>.proof.json per file");
  anchor->add_option("--batch", anchor_opts.batch, "Entries per transaction")->default_val(1000);
  anchor->add_option("--timeout", anchor_opts.timeout_s, "Seconds --wait waits")->default_val(120);
  anchor->add_option("files", anchor_opts.files, "Files to anchor")->required();

  cli::ProofOptions proof_opts;
  std::uint64_t leaf_index = 0;
  auto* proof = app.add_subcommand("proof", "Fetch the proof bundle of an anchored content hash");
  auto* proof_hash = proof->add_option("--hash", proof_opts.hash, "Content hash (SHA-256 hex of the file)");
  auto* proof_leaf = proof->add_option("--leaf-index", leaf_index, "Or the log leaf index");
  proof_hash->excludes(proof_leaf);
  proof->add_option("--out", proof_opts.out, "Where to write the bundle")->required();

  cli::VerifyOptions verify_opts;
  auto* verify = app.add_subcommand("verify", "Verify a proof bundle offline, trusting only genesis.json");
  verify->add_option("--genesis", verify_opts.genesis, "The network's genesis.json")->required();
  auto* verify_proof = verify->add_option("--proof", verify_opts.proof, "The proof bundle");
  auto* verify_reveal =
      verify->add_option("--reveal", verify_opts.reveal, "Or a sealed-field reveal (from contract reveal)");
  verify_proof->excludes(verify_reveal);
  verify->add_option("--file", verify_opts.file, "The file itself: its SHA-256 must be the anchored hash");
  verify->add_option("--record-line", verify_opts.record_line,
                     "With a record proof: the line that must be the record");

  cli::ProveRecordOptions prove_opts;
  auto* prove_record =
      app.add_subcommand("prove-record", "Make a proof of one line of a file anchored with --records");
  prove_record->add_option("--proof", prove_opts.proof, "The file's proof bundle (from anchor --records)")
      ->required();
  prove_record->add_option("--records", prove_opts.records, "The file itself")->required();
  prove_record->add_option("--line", prove_opts.line, "Line number, from 1")
      ->required()
      ->check(CLI::PositiveNumber);
  prove_record->add_option("--out", prove_opts.out, "Where to write the record's bundle")->required();

  cli::AgentOptions agent_opts;
  std::string agent_interval = "5s";
  auto* agent = app.add_subcommand(
      "agent", "Anchor new and changed files under a directory, exactly once, with proofs");
  agent->add_option("--key", agent_opts.key, "Secret key of an account with the submitter role")->required();
  agent->add_option("--watch", agent_opts.watch, "Directory to watch (recursively)")->required();
  agent->add_option("--interval", agent_interval, "Scan interval; a file must be unchanged this long")
      ->default_val("5s");
  agent->add_option("--max-batch", agent_opts.max_batch, "Files per transaction")->default_val(1000);
  agent->add_option("--state", agent_opts.state,
                    "Journal of what was anchored (default WATCH/.cityledger-agent.journal)");
  agent->add_option("--proof-dir", agent_opts.proof_dir,
                    "Write PROOF_DIR/<path relative to WATCH>.proof.json");
  agent->add_option("--status-file", agent_opts.status_file,
                    "Status JSON for monitoring (default STATE.status.json)");
  agent->add_option("--dataset", agent_opts.dataset, "Dataset id recorded with every entry");
  agent->add_flag("--once", agent_opts.once, "Exit once everything present is anchored");

  cli::WatchOptions watch_opts;
  auto* watch =
      app.add_subcommand("watch", "Monitor that the log only grows: checkpoints and consistency proofs");
  watch->add_option("--state", watch_opts.state, "File keeping the last verified checkpoint")->required();
  watch->add_option("--genesis", watch_opts.genesis, "The network's genesis.json")->required();
  watch->add_option("--node", watch_opts.nodes, "RPC address of a node to poll (repeatable; default --rpc)");
  watch->add_option("--interval", watch_opts.interval_s, "Seconds between polls")->default_val(10);
  watch->add_flag("--once", watch_opts.once, "Poll once and exit");

  // ---- PPP contracts (docs/contracts.md)
  auto* contract =
      app.add_subcommand("contract", "PPP contracts: register, record co-signed events, prove them");
  contract->require_subcommand(1);
  auto add_submit_options = [](CLI::App* cmd, cli::ContractSubmitOptions& o, bool drafts) {
    cmd->add_option("--key", o.key, "Secret key of the submitting account (partner role)");
    cmd->add_flag("--wait", o.wait, "Wait until the transaction is committed");
    cmd->add_option("--timeout", o.timeout_s, "Seconds to wait with --wait")->default_val(60);
    if (drafts) {
      cmd->add_option("--cosign-key", o.cosign_keys, "Co-sign with this party's key (repeatable)");
      cmd->add_option("--out", o.out, "Write a draft for the parties to co-sign instead of submitting");
      cmd->add_option("--chain-id", o.chain_id, "Chain of the draft (default: the node's)");
    }
  };
  cli::ContractRegisterOptions register_opts;
  auto* contract_register =
      contract->add_subcommand("register", "Register a contract: parties, and who co-signs which event kind");
  contract_register->add_option("--id", register_opts.id, "Contract id")->required();
  contract_register->add_option("--title", register_opts.title, "Title")->required();
  contract_register->add_option("--party", register_opts.parties, "name=PUBKEY (repeatable)")->required();
  contract_register->add_option("--rule", register_opts.rules, "event-kind=party[,party...] (repeatable)")
      ->required();
  add_submit_options(contract_register, register_opts.submit, true);

  cli::ContractEventOptions event_opts;
  auto* contract_event = contract->add_subcommand("event", "Record a contract event with its co-signatures");
  contract_event->add_option("--id", event_opts.id, "Contract id")->required();
  contract_event->add_option("--kind", event_opts.kind, "Event kind (milestone, payment, cost-share, ...)")
      ->required();
  contract_event->add_option("--payload-file", event_opts.payload_file, "The event's document (its SHA-256)");
  contract_event->add_option("--payload-hash", event_opts.payload_hash, "Or its SHA-256, hex");
  contract_event->add_option("--amount", event_opts.amount, "Amount, e.g. 1250.00 (payments)");
  contract_event->add_option("--currency", event_opts.currency, "ISO 4217 code of --amount, e.g. EUR");
  contract_event->add_option("--share", event_opts.shares, "party=60% (cost shares; repeatable, sum 100%)");
  contract_event->add_option("--doc", event_opts.documents, "name=FILE or name=sha256:HEX (repeatable)");
  contract_event->add_option("--field", event_opts.fields, "name=value, public (repeatable)");
  contract_event->add_option("--sealed", event_opts.sealed,
                             "name=value, confidential: only a salted commitment is anchored (repeatable)");
  contract_event->add_option("--salts-out", event_opts.salts_out,
                             "Where to keep the sealed fields' values and salts (needed to reveal one)");
  add_submit_options(contract_event, event_opts.submit, true);

  std::string cosign_key, draft_path;
  auto* contract_cosign = contract->add_subcommand("cosign", "Add your co-signature to a contract draft");
  contract_cosign->add_option("--key", cosign_key, "Your party key")->required();
  contract_cosign->add_option("draft", draft_path, "The draft file")->required();

  cli::ContractSubmitOptions contract_submit_opts;
  auto* contract_submit = contract->add_subcommand("submit", "Submit a co-signed contract draft");
  contract_submit->add_option("draft", draft_path, "The draft file")->required();
  add_submit_options(contract_submit, contract_submit_opts, false);
  contract_submit->get_option("--key")->required();

  std::string contract_id, events_proof_dir;
  auto* contract_show = contract->add_subcommand("show", "A contract: parties, rules, registration");
  contract_show->add_option("id", contract_id, "Contract id")->required();
  auto* contract_events = contract->add_subcommand("events", "A contract's events, with proofs on request");
  contract_events->add_option("id", contract_id, "Contract id")->required();
  contract_events->add_option("--proof-dir", events_proof_dir, "Write each event's proof bundle here");

  cli::ContractRevealOptions reveal_opts;
  auto* contract_reveal =
      contract->add_subcommand("reveal", "Prove one sealed field of an event without revealing the others");
  contract_reveal->add_option("--salts", reveal_opts.salts, "The file contract event --salts-out wrote")
      ->required();
  contract_reveal->add_option("--field", reveal_opts.field, "The sealed field to reveal")->required();
  contract_reveal->add_option("--out", reveal_opts.out, "Where to write the reveal")->required();

  auto* gov = app.add_subcommand("gov", "Governance: propose, approve (offline) and submit actions");
  gov->require_subcommand(1);
  cli::GovProposeOptions propose_opts;
  auto* propose = gov->add_subcommand("propose", "Write a proposal file for validators to approve");
  propose->require_subcommand(1);
  auto common_propose = [&propose_opts](CLI::App* c) {
    c->add_option("--out", propose_opts.out, "Proposal file to write")->required();
    c->add_option("--memo", propose_opts.memo, "Why (up to 256 bytes; recorded on chain)");
    c->add_option("--chain-id", propose_opts.chain_id, "Chain id (default: the node's)");
    c->add_option("--set-hash", propose_opts.set_hash,
                  "Hash of the validator set that approves (default: the node's current set)");
  };
  auto* add_validator = propose->add_subcommand("add-validator", "Add a validator at a height");
  common_propose(add_validator);
  add_validator->add_option("--name", propose_opts.name, "Unique name")->required();
  add_validator->add_option("--pubkey", propose_opts.pubkey, "Consensus key (64 hex)")->required();
  add_validator->add_option("--tls-pubkey", propose_opts.tls_pubkey, "TLS pin (64 hex)")->required();
  add_validator->add_option("--p2p", propose_opts.p2p, "host:port other validators dial")->required();
  add_validator
      ->add_option("--effective-height", propose_opts.effective_height, "First height the new set commits")
      ->required();
  auto* remove_validator = propose->add_subcommand("remove-validator", "Remove a validator at a height");
  common_propose(remove_validator);
  remove_validator->add_option("--pubkey", propose_opts.pubkey, "Its consensus key (64 hex)")->required();
  remove_validator
      ->add_option("--effective-height", propose_opts.effective_height, "First height the new set commits")
      ->required();
  auto* rotate_keys =
      propose->add_subcommand("rotate-keys", "Replace a validator's consensus key and/or TLS pin");
  common_propose(rotate_keys);
  rotate_keys->add_option("--pubkey", propose_opts.pubkey, "Its current consensus key (64 hex)")->required();
  rotate_keys->add_option("--new-pubkey", propose_opts.new_pubkey, "New consensus key (64 hex)");
  rotate_keys->add_option("--new-tls-pubkey", propose_opts.new_tls_pubkey, "New TLS pin (64 hex)");
  rotate_keys
      ->add_option("--effective-height", propose_opts.effective_height,
                   "First height the changed set commits")
      ->required();
  auto* roles = propose->add_subcommand("roles", "Grant and/or revoke an account's roles");
  common_propose(roles);
  roles->add_option("--account", propose_opts.account, "The account's public key (64 hex)")->required();
  roles->add_option("--grant", propose_opts.grant, "Role to grant (repeatable)");
  roles->add_option("--revoke", propose_opts.revoke, "Role to revoke (repeatable)");
  auto* block_limits = propose->add_subcommand("block-limits", "Set the block limits every node enforces");
  common_propose(block_limits);
  block_limits->add_option("--max-txs", propose_opts.max_txs, "Transactions per block")->required();
  block_limits->add_option("--max-bytes", propose_opts.max_bytes, "Bytes of transactions per block")
      ->required();

  cli::GovSignOptions sign_opts;
  auto* gov_sign = gov->add_subcommand("sign", "Add this validator's approval to a proposal file");
  gov_sign->add_option("--proposal", sign_opts.proposal, "The proposal file (updated in place)")->required();
  gov_sign->add_option("--key", sign_opts.key, "The validator's consensus key file (validator.key)")
      ->required();

  std::string show_path;
  auto* gov_show = gov->add_subcommand("show", "Print a proposal file and check its approvals' signatures");
  gov_show->add_option("--proposal", show_path, "The proposal file")->required();

  cli::GovSubmitOptions submit_opts;
  auto* gov_submit = gov->add_subcommand("submit", "Submit a proposal with its approvals as a transaction");
  gov_submit->add_option("--proposal", submit_opts.proposal, "The approved proposal file")->required();
  gov_submit->add_option("--key", submit_opts.key, "Key of an account with the validator or admin role")
      ->required();
  gov_submit->add_flag("--wait", submit_opts.wait, "Wait until committed");
  gov_submit->add_option("--timeout", submit_opts.timeout_s, "Seconds --wait waits")->default_val(60);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? exit_ok : exit_error;
  }

  if (*hash) return run_hash(g, files, hash_threads, hash_records);
  if (*keygen) return run_keygen(g, key_path);
  if (*pubkey) return run_pubkey(g, key_path);
  if (*status) return cli::run_status(g);
  if (*block) return cli::run_block(g, height);
  if (*tx) return cli::run_tx(g, tx_hash);
  if (*validators) return cli::run_validators(g);
  if (*anchor) return cli::run_anchor(g, anchor_opts);
  if (*proof) {
    if (proof_leaf->count() > 0) {
      proof_opts.leaf_index = leaf_index;
    } else if (proof_hash->count() == 0) {
      return cli::fail("proof: give --hash or --leaf-index");
    }
    return cli::run_proof(g, proof_opts);
  }
  if (*verify) {
    if (verify_opts.proof.empty() && verify_opts.reveal.empty())
      return cli::fail("verify: give --proof or --reveal");
    return cli::run_verify(g, verify_opts);
  }
  if (*contract_register) return cli::run_contract_register(g, register_opts);
  if (*contract_event) return cli::run_contract_event(g, event_opts);
  if (*contract_cosign) return cli::run_contract_cosign(g, cosign_key, draft_path);
  if (*contract_submit) return cli::run_contract_submit(g, draft_path, contract_submit_opts);
  if (*contract_show) return cli::run_contract_show(g, contract_id);
  if (*contract_events) return cli::run_contract_events(g, contract_id, events_proof_dir);
  if (*contract_reveal) return cli::run_contract_reveal(g, reveal_opts);
  if (*gov) {
    if (*propose) {
      for (auto* c : {add_validator, remove_validator, rotate_keys, roles, block_limits}) {
        if (*c) propose_opts.action = c->get_name();
      }
      return cli::run_gov_propose(g, propose_opts);
    }
    if (*gov_sign) return cli::run_gov_sign(g, sign_opts);
    if (*gov_show) return cli::run_gov_show(g, show_path);
    if (*gov_submit) return cli::run_gov_submit(g, submit_opts);
  }
  if (*prove_record) return cli::run_prove_record(g, prove_opts);
  if (*watch) return cli::run_watch(g, watch_opts);
  if (*agent) {
    auto interval = cli::parse_duration(agent_interval);
    if (!interval) return cli::fail(interval.status());
    agent_opts.interval = *interval;
    if (agent_opts.state.empty()) agent_opts.state = agent_opts.watch + "/.cityledger-agent.journal";
    if (agent_opts.status_file.empty()) agent_opts.status_file = agent_opts.state + ".status.json";
    return cli::run_agent(g, agent_opts);
  }
  return exit_error;
}
