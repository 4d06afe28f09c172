#include "node/rpc_service.hpp"

#include <chrono>
#include <future>
#include <map>
#include <set>

#include "audit/proof_bundle.hpp"
#include "crypto/checkpoint.hpp"
#include "proto/codec.hpp"
#include "proto/contracts.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {

using nlohmann::json;
using rpc::InvalidParams;
using rpc::json_text;
using rpc::MethodResult;
using rpc::MethodSpec;
using rpc::ParamSpec;

namespace {

const json hex32_schema = {{"type", "string"}, {"minLength", 64}, {"maxLength", 64}};
const json height_schema = {{"type", "integer"}, {"minimum", 1}};
const json index_schema = {{"type", "integer"}, {"minimum", 0}};
constexpr std::size_t evidence_listed_max = 100;

std::optional<Hash32> hash_param(const json& params, const char* name) {
  if (!params.contains(name) || !params[name].is_string()) return std::nullopt;
  const auto& s = params[name].get_ref<const std::string&>();
  auto h = Hash32::from_hex(s);
  if (!h || h->hex() != s) return std::nullopt;
  return h;
}

std::optional<std::uint64_t> u64_param(const json& params, const char* name) {
  if (!params.contains(name)) return std::nullopt;
  const auto& v = params[name];
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0)
    return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return std::nullopt;
}

InvalidParams bad_hex(const char* name) {
  return {name, std::string(name) + " must be 64 lowercase hex characters"};
}

json header_json(const pb::BlockHeader& h) {
  return {{"chain_id", h.chain_id()},
          {"height", h.height()},
          {"time_unix_ms", h.time_unix_ms()},
          {"previous_block_hash", to_hex(as_bytes(h.previous_block_hash()))},
          {"last_commit_hash", to_hex(as_bytes(h.last_commit_hash()))},
          {"txs_root", to_hex(as_bytes(h.txs_root()))},
          {"tx_count", h.tx_count()},
          {"log_size", h.log_size()},
          {"log_root", to_hex(as_bytes(h.log_root()))},
          {"validator_set_hash", to_hex(as_bytes(h.validator_set_hash()))},
          {"proposer_index", h.proposer_index()}};
}

json tx_body_json(const pb::TxBody& body) {
  json out = {
      {"chain_id", body.chain_id()}, {"signer", to_hex(as_bytes(body.signer()))}, {"nonce", body.nonce()}};
  if (body.has_anchor()) {
    json entries = json::array();
    for (const auto& e : body.anchor().entries()) {
      json meta = json::object();
      for (const auto& m : e.metadata()) meta[m.key()] = m.value();
      entries.push_back({{"content_hash", to_hex(as_bytes(e.content_hash()))},
                         {"kind", audit::entry_kind_name(static_cast<std::uint64_t>(e.kind()))},
                         {"dataset_id", e.dataset_id()},
                         {"metadata", meta}});
    }
    out["action"] = "anchor";
    out["entries"] = entries;
  } else if (body.has_contract()) {
    out["action"] = "contract";
    out["contract"] = proto::contract_action_json(body.contract());
  } else if (body.has_governance()) {
    out["action"] = "governance";
    out["proposal"] = to_hex(as_bytes(body.governance().proposal()));
    json approvals = json::array();
    for (const auto& a : body.governance().approvals()) approvals.push_back(to_hex(as_bytes(a.validator())));
    out["approved_by"] = approvals;
  }
  return out;
}

json entry_json_at(const ledger::Store& store, std::uint64_t index) {
  auto entry = store.log_entry(index);
  if (!entry) return json();
  const std::string bytes = proto::log_entry_bytes(*entry);
  auto decoded = audit::decode_log_entry(as_bytes(bytes));
  if (!decoded) return json();
  json out(audit::entry_json(as_bytes(bytes), *decoded));  // ordered_json to a sorted json
  out["leaf_index"] = index;
  return out;
}

}  // namespace

json validator_sets_json(const Node& node, std::uint64_t height) {
  json sets = json::array();
  for (const auto& change : node.chain().set_changes_up_to(height)) {
    json approvals = json::array();
    for (const auto& a : change.action.approvals()) {
      approvals.push_back(
          {{"validator", to_hex(as_bytes(a.validator()))}, {"signature", to_hex(as_bytes(a.signature()))}});
    }
    json validators = json::array();
    for (const auto& v : change.validators) {
      validators.push_back(
          {{"name", v.name}, {"pubkey", v.pubkey.hex()}, {"tls_pubkey", v.tls_pubkey.hex()}, {"p2p", v.p2p}});
    }
    sets.push_back({{"effective_height", change.effective_height},
                    {"proposal", to_hex(as_bytes(change.action.proposal()))},
                    {"approvals", approvals},
                    {"validators", validators}});
  }
  return sets;
}

json checkpoint_json(const pb::Checkpoint& checkpoint) {
  json sigs = json::array();
  for (const auto& s : checkpoint.signatures()) {
    sigs.push_back(
        {{"validator", to_hex(as_bytes(s.validator()))}, {"signature", to_hex(as_bytes(s.signature()))}});
  }
  json out = {{"body", checkpoint.body()}, {"signatures", sigs}};
  if (auto body = crypto::CheckpointBody::parse(checkpoint.body())) {
    out["tree_size"] = body->tree_size;
    out["height"] = body->height;
    out["root"] = body->root.hex();
    out["block_hash"] = body->block_hash.hex();
  }
  return out;
}

namespace {

bool same_checkpoint(const pb::Checkpoint& a, const pb::Checkpoint& b) {
  if (a.body() != b.body() || a.signatures_size() != b.signatures_size()) return false;
  for (int i = 0; i < a.signatures_size(); ++i) {
    if (a.signatures(i).validator() != b.signatures(i).validator() ||
        a.signatures(i).signature() != b.signatures(i).signature())
      return false;
  }
  return true;
}

}  // namespace

ProofBundles::ProofBundles(const Node& node) : node_(node) {}

std::shared_ptr<const ProofBundles::Shared> ProofBundles::shared_for(
    const pb::Checkpoint& checkpoint, const crypto::CheckpointBody& body) const {
  const auto cached = [&]() -> std::shared_ptr<const Shared> {  // under mutex_
    for (const auto& shared : recent_) {
      if (same_checkpoint(shared->checkpoint, checkpoint)) return shared;
    }
    return nullptr;
  };
  {
    std::lock_guard lock(mutex_);
    if (auto shared = cached()) return shared;
  }
  auto shared = std::make_shared<Shared>();
  shared->checkpoint = checkpoint;
  const json cp = checkpoint_json(checkpoint);
  shared->head = "{\"chain_id\":" + json_text(node_.genesis().chain_id) + ",\"checkpoint\":" +
                 json_text(json{{"body", cp["body"]}, {"signatures", cp["signatures"]}}) + ",\"entry\":";
  // Every set change in charge by the checkpoint's height, with the approvals
  // of the set before it: genesis alone is then the root of trust. Fixed once
  // the checkpoint is final, like the rest of this text.
  shared->tail = ",\"validator_sets\":" + json_text(validator_sets_json(node_, body.height)) + "}";
  std::lock_guard lock(mutex_);
  if (auto other = cached()) return other;  // another thread wrote it meanwhile: keep one copy
  if (recent_.size() >= recent_max) recent_.erase(recent_.begin());
  recent_.push_back(shared);
  return shared;
}

Result<std::string> ProofBundles::bundle(std::uint64_t leaf_index,
                                         std::optional<std::uint64_t> tree_size) const {
  const auto& store = node_.store();
  if (leaf_index >= store.log_size()) {
    return error(ErrorCode::not_found, "leaf " + std::to_string(leaf_index) + " is not in the log yet");
  }
  std::optional<pb::Checkpoint> checkpoint;
  if (tree_size) {
    checkpoint = node_.checkpoint_at_size(*tree_size);
    if (!checkpoint) {
      return error(ErrorCode::not_found,
                   "no final checkpoint of size " + std::to_string(*tree_size) + " here");
    }
  } else {
    checkpoint = node_.latest_checkpoint();
  }
  auto body = checkpoint ? crypto::CheckpointBody::parse(checkpoint->body())
                         : Result<crypto::CheckpointBody>(error(ErrorCode::not_found, ""));
  if (!body || body->tree_size <= leaf_index) {
    return error(ErrorCode::unavailable,
                 "no final checkpoint covers leaf " + std::to_string(leaf_index) + " yet; retry in a moment");
  }
  auto path = store.inclusion_proof(leaf_index, body->tree_size);
  if (!path) return path.status();
  json entry = entry_json_at(store, leaf_index);
  if (entry.is_null()) return error(ErrorCode::corruption, "stored log entry does not decode");
  entry.erase("leaf_index");
  const auto shared = shared_for(*checkpoint, *body);

  // Compact, with the keys in sorted order: the same bytes nlohmann would
  // give for a tree of this bundle (tests/cluster/cluster_test.py checks).
  std::string out = shared->head;
  out.reserve(out.size() + shared->tail.size() + 1024 + path->size() * 67);
  out += json_text(entry);
  out += ",\"format\":\"";
  out += audit::proof_format_v1;
  out += "\",\"inclusion\":{\"path\":[";
  for (std::size_t i = 0; i < path->size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    out += (*path)[i].hex();
    out += '"';
  }
  out += "],\"tree_size\":";
  out += std::to_string(body->tree_size);
  out += "},\"leaf_index\":";
  out += std::to_string(leaf_index);
  out += shared->tail;
  return out;
}

void register_rpc_methods(rpc::Dispatcher& d, Node& node) {
  const ledger::Store& store = node.store();

  d.add(MethodSpec("status", "The node's view of the chain: height, log, validators, peers"),
        [&node](const json&) {
          const auto s = node.status();
          json validators = json::array();
          for (const auto& v : node.chain().validators_at(node.chain().height() + 1)) {
            validators.push_back({{"name", v.name}, {"pubkey", v.pubkey.hex()}, {"p2p", v.p2p}});
          }
          return json{{"chain_id", s.chain_id},      {"node", s.name},
                      {"height", s.height},          {"last_block_hash", s.last_block_hash.hex()},
                      {"tree_size", s.tree_size},    {"tree_root", s.tree_root.hex()},
                      {"validators", validators},    {"peers", s.peers},
                      {"syncing", s.syncing},        {"round", s.consensus_round},
                      {"mempool_txs", s.mempool_txs}};
        });

  d.add(
      MethodSpec("submit_tx", "Submit a signed transaction; with wait, answer once it is committed",
                 {ParamSpec("tx", {{"type", "string"}}, true, "hex of the canonical Transaction bytes"),
                  ParamSpec("wait", {{"type", "boolean"}}, false),
                  ParamSpec("timeout_ms",
                            {{"type", "integer"}, {"minimum", 1}, {"maximum", submit_wait_max_ms}}, false)}),
      [&node, &store](const json& params) -> MethodResult {
        auto raw = from_hex(params["tx"].get<std::string>());
        if (!raw) return InvalidParams{"tx", "tx must be hex"};
        auto tx = proto::decode<pb::Transaction>(*raw, 2u << 20);
        if (!tx) return InvalidParams{"tx", tx.status().message()};
        const Hash32 hash = proto::tx_hash(*tx);
        json out = {{"tx_hash", hash.hex()}};
        // Resubmitting a transaction is idempotent: same hash, same answer.
        if (auto location = store.find_tx(hash); location.ok()) {
          out["height"] = location->height;
          return out;
        }
        auto added = node.submit(*tx);
        if (!added && added.status().message() != "transaction already in the mempool") return added.status();
        if (!params.value("wait", false)) return out;
        auto promise = std::make_shared<std::promise<std::optional<std::uint64_t>>>();
        auto future = promise->get_future();
        node.when_committed(hash, params.value("timeout_ms", std::uint64_t{30'000}),
                            [promise](std::optional<std::uint64_t> h) { promise->set_value(h); });
        const auto height = future.get();
        if (!height)
          return error(ErrorCode::unavailable, "not committed within the timeout; it may still be");
        out["height"] = *height;
        return out;
      });

  d.add(MethodSpec("submit_txs",
                   "The bulk path: submit up to " + std::to_string(submit_txs_max) +
                       " signed transactions in one call; one answer per transaction, in order",
                   {ParamSpec("txs", {{"type", "array"}}, true,
                              "hex of canonical Transaction bytes, one string per transaction")}),
        [&node, &store](const json& params) -> MethodResult {
          const auto& list = params["txs"];
          if (list.empty() || list.size() > submit_txs_max) {
            return InvalidParams{"txs", "must hold 1 to " + std::to_string(submit_txs_max) + " transactions"};
          }
          // Each element is judged on its own: a bad one is answered with its
          // error and never costs the others their admission.
          std::vector<json> results(list.size());
          std::vector<pb::Transaction> txs;
          std::vector<std::size_t> slot;  // txs[i] answers results[slot[i]]
          txs.reserve(list.size());
          slot.reserve(list.size());
          auto refused = [](ErrorCode code, const std::string& message) {
            return json{{"error", {{"code", rpc::error_code_id(code)}, {"message", message}}}};
          };
          for (std::size_t i = 0; i < list.size(); ++i) {
            if (!list[i].is_string()) {
              results[i] = refused(ErrorCode::invalid_argument, "not a string");
              continue;
            }
            auto raw = from_hex(list[i].get_ref<const std::string&>());
            if (!raw) {
              results[i] = refused(ErrorCode::invalid_argument, "not hex");
              continue;
            }
            auto tx = proto::decode<pb::Transaction>(*raw, 2u << 20);
            if (!tx) {
              results[i] = refused(tx.status().code(), tx.status().message());
              continue;
            }
            txs.push_back(std::move(*tx));
            slot.push_back(i);
          }
          const auto added = node.submit_many(txs);
          std::size_t accepted = 0;
          for (std::size_t k = 0; k < txs.size(); ++k) {
            const Hash32 hash = added[k] ? *added[k] : proto::tx_hash(txs[k]);
            json out = {{"tx_hash", hash.hex()}};
            if (added[k]) {
              ++accepted;
            } else if (added[k].status().code() == ErrorCode::already_exists &&
                       added[k].status().message().starts_with("transaction already")) {
              // Idempotent, as submit_tx: pending or committed already.
              ++accepted;
              if (auto location = store.find_tx(hash); location.ok()) out["height"] = location->height;
            } else {
              out.update(refused(added[k].status().code(), added[k].status().message()));
            }
            results[slot[k]] = std::move(out);
          }
          return json{
              {"results", std::move(results)}, {"accepted", accepted}, {"refused", list.size() - accepted}};
        });

  d.add(MethodSpec("get_tx", "A committed transaction by hash", {ParamSpec("hash", hex32_schema)}),
        [&store](const json& params) -> MethodResult {
          auto hash = hash_param(params, "hash");
          if (!hash) return bad_hex("hash");
          auto location = store.find_tx(*hash);
          if (!location) return location.status();
          auto block = store.get_block(location->height);
          if (!block) return block.status();
          const auto& tx = block->txs(static_cast<int>(location->position));
          auto body = proto::decode<pb::TxBody>(tx.body());
          json out = {{"hash", hash->hex()},
                      {"height", location->height},
                      {"position", location->position},
                      {"tx", to_hex(as_bytes(proto::encode(tx)))}};
          if (body) out["body"] = tx_body_json(*body);
          // Where its anchors landed in the log: the block appended its
          // transactions' entries in order, ending at the header's log size.
          if (body && ledger::log_leaf_count(*body) > 0) {
            std::uint64_t before = 0, in_block = 0;
            for (int i = 0; i < block->txs_size(); ++i) {
              auto other = proto::decode<pb::TxBody>(block->txs(i).body());
              const std::uint64_t n = other ? ledger::log_leaf_count(*other) : 0;
              if (static_cast<std::uint64_t>(i) < location->position) before += n;
              in_block += n;
            }
            out["first_leaf_index"] = block->header().log_size() - in_block + before;
            out["entries"] = ledger::log_leaf_count(*body);
          }
          return out;
        });

  d.add(MethodSpec("get_block", "A committed block by height", {ParamSpec("height", height_schema)}),
        [&node, &store](const json& params) -> MethodResult {
          auto block = store.get_block(*u64_param(params, "height"));
          if (!block) return block.status();
          json txs = json::array();
          for (const auto& tx : block->txs()) txs.push_back(proto::tx_hash(tx).hex());
          json out = header_json(block->header());
          // proposer_index is an index in the set in charge of the block's height.
          const auto set = node.chain().validators_at(block->header().height());
          if (block->header().proposer_index() < set.size()) {
            const auto& proposer = set[block->header().proposer_index()];
            out["proposer"] = {{"name", proposer.name}, {"pubkey", proposer.pubkey.hex()}};
          }
          out["hash"] = proto::block_hash(block->header()).hex();
          out["txs"] = txs;
          if (block->has_last_commit()) {
            // Who committed the previous block: indexes in the set in charge of it.
            json signers = json::array();
            for (const auto& sig : block->last_commit().signatures())
              signers.push_back(sig.validator_index());
            out["last_commit"] = {{"height", block->last_commit().height()},
                                  {"round", block->last_commit().round()},
                                  {"signers", signers}};
          }
          return out;
        });

  d.add(
      MethodSpec("get_entry", "Every anchoring of a content hash", {ParamSpec("content_hash", hex32_schema)}),
      [&store](const json& params) -> MethodResult {
        auto hash = hash_param(params, "content_hash");
        if (!hash) return bad_hex("content_hash");
        auto leaves = store.leaves_for_content(*hash, 1000);
        if (!leaves) return leaves.status();
        if (leaves->empty())
          return error(ErrorCode::not_found, "content hash " + hash->hex() + " is not anchored");
        json out = json::array();
        for (auto i : *leaves) out.push_back(entry_json_at(store, i));
        return json{{"content_hash", hash->hex()}, {"entries", out}};
      });

  d.add(MethodSpec("get_validators",
                   "The validator set in charge of a height (default: the next block's), from genesis and "
                   "governance set changes",
                   {ParamSpec("height", height_schema, false)}),
        [&node](const json& params) -> MethodResult {
          const std::uint64_t next = node.chain().height() + 1;
          const std::uint64_t height = u64_param(params, "height").value_or(next);
          if (height > next) {
            return error(ErrorCode::not_found, "height " + std::to_string(height) +
                                                   " is beyond the next block (" + std::to_string(next) +
                                                   ")");
          }
          json out = json::array();
          std::uint32_t i = 0;
          const auto validators = node.chain().validators_at(height);
          for (const auto& v : validators) {
            out.push_back({{"index", i++},
                           {"name", v.name},
                           {"pubkey", v.pubkey.hex()},
                           {"tls_pubkey", v.tls_pubkey.hex()},
                           {"p2p", v.p2p}});
          }
          const auto governance = node.chain().governance_at(height);
          json result = {{"height", height},
                         {"validators", out},
                         {"quorum", crypto::checkpoint_quorum(validators.size())},
                         {"validator_set_hash", node.chain().validator_set_at(height).hash().hex()}};
          if (governance.pending_set_change_height) {
            result["next_set_change_height"] = *governance.pending_set_change_height;
          }
          return result;
        });

  d.add(MethodSpec(
            "get_account",
            "An account's roles, next nonce, and next nonce after its transactions waiting in the mempool",
            {ParamSpec("pubkey", hex32_schema)}),
        [&node](const json& params) -> MethodResult {
          auto key = hash_param(params, "pubkey");
          if (!key) return bad_hex("pubkey");
          auto account = node.account(*key);
          if (!account) return error(ErrorCode::not_found, "no account " + key->hex());
          return json{{"pubkey", key->hex()},
                      {"roles", std::vector<std::string>(account->roles.begin(), account->roles.end())},
                      {"next_nonce", account->next_nonce},
                      {"next_pending_nonce", node.next_pending_nonce(*key, account->next_nonce)}};
        });

  d.add(MethodSpec("get_checkpoint", "A final checkpoint (the newest without params)",
                   {ParamSpec("tree_size", index_schema, false), ParamSpec("height", height_schema, false)}),
        [&node](const json& params) -> MethodResult {
          std::optional<pb::Checkpoint> cp;
          if (auto size = u64_param(params, "tree_size")) {
            cp = node.checkpoint_at_size(*size);
          } else if (auto height = u64_param(params, "height")) {
            cp = node.checkpoint_at_height(*height);
          } else {
            cp = node.latest_checkpoint();
          }
          if (!cp) return error(ErrorCode::not_found, "no such final checkpoint on this node");
          return checkpoint_json(*cp);
        });

  d.add(
      MethodSpec("get_inclusion_proof", "A proof bundle (docs/proof-format.md) for an anchored entry",
                 {ParamSpec("content_hash", hex32_schema, false),
                  ParamSpec("leaf_index", index_schema, false), ParamSpec("tree_size", index_schema, false)}),
      [&store, bundles = std::make_shared<ProofBundles>(node)](const json& params) -> MethodResult {
        std::uint64_t index = 0;
        if (params.contains("content_hash")) {
          auto hash = hash_param(params, "content_hash");
          if (!hash) return bad_hex("content_hash");
          auto leaves = store.leaves_for_content(*hash, 1);
          if (!leaves) return leaves.status();
          if (leaves->empty())
            return error(ErrorCode::not_found, "content hash " + hash->hex() + " is not anchored");
          index = leaves->front();
        } else if (auto i = u64_param(params, "leaf_index")) {
          index = *i;
        } else {
          return InvalidParams{"content_hash", "give content_hash or leaf_index"};
        }
        auto text = bundles->bundle(index, u64_param(params, "tree_size"));
        if (!text) return text.status();
        return rpc::JsonText{std::move(*text)};
      });

  // ---- PPP contracts (docs/contracts.md)

  const json contract_id_schema = {{"type", "string"}, {"minLength", 1}, {"maxLength", 128}};
  d.add(MethodSpec("list_contracts", "The ids of every registered contract"), [&node](const json&) {
    return json{{"contracts", node.contracts().ids()}};
  });

  d.add(MethodSpec("get_contract", "A registered contract: parties, rules, where it was registered",
                   {ParamSpec("contract_id", contract_id_schema)}),
        [&node](const json& params) -> MethodResult {
          const auto id = params["contract_id"].get<std::string>();
          auto record = node.contracts().contract(id);
          if (!record) return error(ErrorCode::not_found, "contract '" + id + "' is not registered");
          pb::ContractAction action;
          *action.mutable_registration() = record->registration;
          json out = proto::contract_action_json(action);
          out.erase("cosignatures");  // they live in the transaction (get_tx)
          out.erase("type");
          out["registered"] = {{"height", record->height},
                               {"tx_hash", record->tx_hash.hex()},
                               {"leaf_index", record->leaf_index},
                               {"content_hash", out["subject_hash"]}};
          out.erase("subject_hash");
          out["events"] = record->events.size();
          return out;
        });

  d.add(MethodSpec("get_contract_events",
                   "A contract's events in log order, each with its decoded event, co-signers and leaf",
                   {ParamSpec("contract_id", contract_id_schema), ParamSpec("from", index_schema, false),
                    ParamSpec("limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}}, false)}),
        [&node, &store](const json& params) -> MethodResult {
          const auto id = params["contract_id"].get<std::string>();
          auto record = node.contracts().contract(id);
          if (!record) return error(ErrorCode::not_found, "contract '" + id + "' is not registered");
          const std::uint64_t from = params.value("from", std::uint64_t{0});
          const std::uint64_t limit = params.value("limit", std::uint64_t{100});
          json events = json::array();
          // Events of one block share one read of it.
          std::uint64_t block_height = 0;
          pb::Block block;
          for (std::uint64_t i = from; i < record->events.size() && i < from + limit; ++i) {
            const auto& e = record->events[i];
            json item = {{"sequence", i + 1},          {"kind", e.kind},
                         {"height", e.height},         {"tx_hash", e.tx_hash.hex()},
                         {"leaf_index", e.leaf_index}, {"content_hash", e.subject_hash.hex()}};
            // The event itself, from its transaction.
            auto location = store.find_tx(e.tx_hash);
            if (!location) return location.status();
            if (block_height != location->height) {
              auto read = store.get_block(location->height);
              if (!read) return read.status();
              block = std::move(*read);
              block_height = location->height;
            }
            auto body = proto::decode<pb::TxBody>(block.txs(static_cast<int>(location->position)).body());
            if (!body || !body->has_contract()) {
              return error(ErrorCode::corruption, "stored contract transaction does not decode");
            }
            item["event"] = proto::contract_action_json(body->contract());
            item["event_hex"] = to_hex(as_bytes(proto::encode(body->contract().event())));
            item["entry"] = entry_json_at(store, e.leaf_index);
            events.push_back(std::move(item));
          }
          return json{
              {"contract_id", id}, {"total", record->events.size()}, {"from", from}, {"events", events}};
        });

  // ---- for the explorer (docs/explorer.md)

  d.add(
      MethodSpec("get_genesis",
                 "The genesis this node runs: chain id, validators (the trust root of proofs) and accounts"),
      [&node](const json&) {
        const auto& g = node.genesis();
        json validators = json::array();
        std::uint32_t i = 0;
        for (const auto& v : g.validators) {
          validators.push_back({{"index", i++},
                                {"name", v.name},
                                {"pubkey", v.pubkey.hex()},
                                {"tls_pubkey", v.tls_pubkey.hex()},
                                {"p2p", v.p2p}});
        }
        json accounts = json::array();
        for (const auto& a : g.accounts) accounts.push_back({{"pubkey", a.pubkey.hex()}, {"roles", a.roles}});
        return json{{"chain_id", g.chain_id}, {"genesis_time", g.genesis_time},
                    {"hash", g.hash.hex()},   {"validators", validators},
                    {"accounts", accounts},   {"quorum", crypto::checkpoint_quorum(g.validators.size())}};
      });

  d.add(MethodSpec("get_validator_sets",
                   "The validator-set changes in charge by a height (default: the head), as proof bundles "
                   "carry them in validator_sets: follow them from genesis to know who signs a checkpoint",
                   {ParamSpec("height", height_schema, false)}),
        [&node](const json& params) -> MethodResult {
          const std::uint64_t head = node.chain().height();
          const std::uint64_t height = u64_param(params, "height").value_or(head);
          if (height > head) {
            return error(ErrorCode::not_found,
                         "height " + std::to_string(height) + " is above the head " + std::to_string(head));
          }
          return json{{"height", height}, {"validator_sets", validator_sets_json(node, height)}};
        });

  d.add(MethodSpec("get_validator_activity",
                   "Each validator of the set in charge of the next block: its newest precommit in a commit "
                   "certificate, the recent final checkpoints it signed (liveness), and whether this node is "
                   "connected to it"),
        [&node](const json&) {
          const auto& stats = node.explorer_stats();
          const auto activity = stats.validators();
          const auto peers = node.peer_heights();
          const std::uint64_t head = node.status().height;
          const auto in_charge = node.chain().validators_at(head + 1);
          const std::size_t n = in_charge.size();
          // Connected peers by the validator entry each peer id stands for
          // (peer ids are genesis indexes only for genesis's validators).
          std::set<crypto::PublicKey> connected_keys;
          std::set<Hash32> connected_pins;
          for (const auto& [peer, height] : peers) {
            if (auto v = node.peer_validator(peer)) {
              connected_keys.insert(v->pubkey);
              connected_pins.insert(v->tls_pubkey);
            }
          }
          // Liveness from checkpoint signatures, by key: every validator signs every
          // checkpoint and a final one keeps collecting them, whereas a commit
          // certificate holds only the first 2f+1 precommits.
          std::map<std::string, std::uint32_t> index_of;
          for (std::uint32_t i = 0; i < n; ++i) index_of[in_charge[i].pubkey.hex()] = i;
          std::vector<std::uint64_t> checkpoints_signed(n, 0), last_checkpoint(n, 0);
          std::uint64_t checkpoints = 0;
          for (std::uint64_t h = head; h >= 1 && head - h < ExplorerStats::window_heights; --h) {
            const auto cp = node.checkpoint_at_height(h);
            if (!cp) continue;
            ++checkpoints;
            for (const auto& sig : cp->signatures()) {
              const auto it = index_of.find(to_hex(as_bytes(sig.validator())));
              if (it == index_of.end()) continue;
              ++checkpoints_signed[it->second];
              last_checkpoint[it->second] = std::max(last_checkpoint[it->second], h);
            }
          }
          json out = json::array();
          for (std::uint32_t i = 0; i < n; ++i) {
            const auto& v = in_charge[i];
            const bool is_self = v.pubkey == node.validator_key();
            json entry = {{"index", i},
                          {"name", v.name},
                          {"pubkey", v.pubkey.hex()},
                          {"self", is_self},
                          // A consensus key rotated with the TLS key kept is the same connection.
                          {"connected", is_self || connected_keys.contains(v.pubkey) ||
                                            connected_pins.contains(v.tls_pubkey)}};
            // By key: a validator added by governance, or with a rotated key,
            // has its own record (zero until its first precommit in a certificate).
            const auto a = activity.find(v.pubkey);
            const ValidatorActivity none;
            const ValidatorActivity& act = a == activity.end() ? none : a->second;
            entry["last_precommit_height"] = act.last_signed_height;
            entry["last_precommit_time_unix_ms"] = act.last_signed_time_unix_ms;
            entry["precommits_in_certificates"] = act.signed_in_window;
            entry["last_checkpoint_height"] = last_checkpoint[i];
            entry["checkpoints_signed"] = checkpoints_signed[i];
            entry["liveness"] =
                checkpoints == 0 ? 0.0 : static_cast<double>(checkpoints_signed[i]) / checkpoints;
            out.push_back(std::move(entry));
          }
          return json{{"height", head},
                      {"certificates", stats.window_size()},
                      {"checkpoints", checkpoints},
                      {"validators", out}};
        });

  d.add(MethodSpec("get_anchor_rate",
                   "Anchored entries and blocks per minute over the last hour, oldest first"),
        [&node](const json&) {
          const std::uint64_t now_ms =
              static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
          json minutes = json::array();
          for (const auto& m : node.explorer_stats().anchors_per_minute(now_ms)) {
            minutes.push_back({{"minute_start_unix_ms", m.minute_start_unix_ms},
                               {"anchors", m.anchors},
                               {"blocks", m.blocks}});
          }
          return json{{"now_unix_ms", now_ms}, {"minute_ms", ExplorerStats::minute_ms}, {"minutes", minutes}};
        });

  d.add(MethodSpec("get_evidence",
                   "Equivocation evidence this node saw: two different votes signed by one validator for "
                   "one height, round and type (newest 100)"),
        [&node](const json&) {
          const auto listed = node.evidence(evidence_listed_max);
          json out = json::array();
          auto vote_json = [](const pb::Vote& v) {
            return json{{"block_id", to_hex(as_bytes(v.block_id()))},
                        {"signature", to_hex(as_bytes(v.signature()))}};
          };
          for (const auto& e : listed) {
            const auto& v = e.first();
            json entry = {{"validator_index", v.validator_index()},
                          {"height", v.height()},
                          {"round", v.round()},
                          {"type", v.type() == pb::VOTE_TYPE_PREVOTE     ? "prevote"
                                   : v.type() == pb::VOTE_TYPE_PRECOMMIT ? "precommit"
                                                                         : "unspecified"},
                          {"first", vote_json(e.first())},
                          {"second", vote_json(e.second())}};
            // The index is in the set in charge of the vote's height.
            const auto validators = node.chain().validators_at(std::max<std::uint64_t>(v.height(), 1));
            if (v.validator_index() < validators.size()) {
              entry["validator"] = validators[v.validator_index()].pubkey.hex();
              entry["name"] = validators[v.validator_index()].name;
            }
            out.push_back(entry);
          }
          return json{{"count", node.evidence_count()}, {"evidence", out}};
        });

  d.add(MethodSpec("get_consistency_proof", "RFC 9162 consistency proof between two tree sizes",
                   {ParamSpec("first", height_schema), ParamSpec("second", height_schema)}),
        [&store](const json& params) -> MethodResult {
          const auto first = *u64_param(params, "first");
          const auto second = *u64_param(params, "second");
          if (first > second) return InvalidParams{"first", "first must not exceed second"};
          auto proof = store.consistency_proof(first, second);
          if (!proof) return proof.status();
          json path = json::array();
          for (const auto& h : *proof) path.push_back(h.hex());
          return json{{"first", first}, {"second", second}, {"path", path}};
        });
}

}  // namespace cityledger::node
