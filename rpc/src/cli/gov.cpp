// `cityledger gov propose | sign | show | submit`: the offline approval flow
// of governance actions (docs/governance.md). A proposal file carries the
// canonical GovernanceProposal bytes; validators add BIP340 approvals over its
// governance digest one after the other, offline; an account with the
// validator or admin role submits the proposal with 2f+1 approvals.
#include <algorithm>
#include <iostream>

#include "audit/genesis.hpp"
#include "cli.hpp"
#include "crypto/schnorr.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::cli {

using nlohmann::json;

namespace {

constexpr std::size_t proposal_file_bytes_max = 1u << 20;

Result<std::string> hex_bytes(const std::string& text, std::size_t size, const std::string& flag) {
  auto raw = from_hex(text);
  if (!raw || raw->size() != size) {
    return error(ErrorCode::invalid_argument,
                 flag + " must be " + std::to_string(2 * size) + " hex characters, got '" + text + "'");
  }
  return std::string(raw->begin(), raw->end());
}

Result<std::string> key_bytes(const std::string& text, const std::string& flag) {
  auto bytes = hex_bytes(text, 32, flag);
  if (!bytes) return bytes;
  if (!crypto::is_valid_public_key(Hash32::from_span(as_bytes(*bytes)))) {
    return error(ErrorCode::invalid_argument, flag + " is not a valid x-only public key");
  }
  return bytes;
}

json action_json(const pb::GovernanceProposal& p) {
  auto hex = [](const std::string& s) { return to_hex(as_bytes(s)); };
  switch (p.action_case()) {
    case pb::GovernanceProposal::kAddValidator: {
      const auto& v = p.add_validator().validator();
      return {{"action", "add_validator"},
              {"name", v.name()},
              {"pubkey", hex(v.pubkey())},
              {"tls_pubkey", hex(v.tls_pubkey())},
              {"p2p", v.p2p()}};
    }
    case pb::GovernanceProposal::kRemoveValidator:
      return {{"action", "remove_validator"}, {"pubkey", hex(p.remove_validator().pubkey())}};
    case pb::GovernanceProposal::kRotateValidatorKeys: {
      const auto& r = p.rotate_validator_keys();
      return {{"action", "rotate_validator_keys"},
              {"pubkey", hex(r.pubkey())},
              {"new_pubkey", hex(r.new_pubkey())},
              {"new_tls_pubkey", hex(r.new_tls_pubkey())}};
    }
    case pb::GovernanceProposal::kChangeRoles: {
      const auto& c = p.change_roles();
      return {{"action", "change_roles"},
              {"account", hex(c.account())},
              {"grant", std::vector<std::string>(c.grant().begin(), c.grant().end())},
              {"revoke", std::vector<std::string>(c.revoke().begin(), c.revoke().end())}};
    }
    case pb::GovernanceProposal::kSetBlockLimits:
      return {{"action", "set_block_limits"},
              {"max_txs", p.set_block_limits().max_txs()},
              {"max_bytes", p.set_block_limits().max_bytes()}};
    case pb::GovernanceProposal::ACTION_NOT_SET:
      break;
  }
  return {{"action", "none"}};
}

// A proposal file: what `gov sign` and `gov submit` read.
struct ProposalFile {
  pb::GovernanceProposal proposal;
  std::string bytes;  // canonical, exactly as approved
  Hash32 digest;
  std::vector<std::pair<Hash32, std::string>> approvals;  // validator key -> signature, ascending
};

json to_json(const ProposalFile& f) {
  json approvals = json::array();
  for (const auto& [key, sig] : f.approvals) {
    approvals.push_back({{"validator", key.hex()}, {"signature", to_hex(as_bytes(sig))}});
  }
  return {{"chain_id", f.proposal.chain_id()},
          {"validator_set_hash", to_hex(as_bytes(f.proposal.validator_set_hash()))},
          {"effective_height", f.proposal.effective_height()},
          {"memo", f.proposal.memo()},
          {"action", action_json(f.proposal)},
          {"proposal", to_hex(as_bytes(f.bytes))},
          {"digest", f.digest.hex()},
          {"approvals", approvals}};
}

Result<ProposalFile> read_proposal_file(const std::string& path) {
  auto text = read_text_file(path, proposal_file_bytes_max);
  if (!text) return text.status();
  const json j = json::parse(*text, nullptr, false);
  auto bad = [&path](const std::string& why) {
    return error(ErrorCode::invalid_argument, path + " is not a proposal file: " + why);
  };
  if (!j.is_object() || !j.contains("proposal") || !j["proposal"].is_string()) return bad("no \"proposal\"");
  ProposalFile f;
  auto raw = from_hex(j["proposal"].get<std::string>());
  if (!raw) return bad("\"proposal\" is not hex");
  f.bytes.assign(raw->begin(), raw->end());
  if (Status s = proto::decode_into(as_bytes(f.bytes), f.proposal); !s.ok()) return bad(s.message());
  f.digest = proto::governance_digest(f.proposal.chain_id(), as_bytes(f.bytes));
  if (j.contains("approvals")) {
    if (!j["approvals"].is_array()) return bad("\"approvals\" is not a list");
    for (const auto& a : j["approvals"]) {
      if (!a.is_object() || !a.contains("validator") || !a.contains("signature") ||
          !a["validator"].is_string() || !a["signature"].is_string()) {
        return bad("an approval lacks \"validator\" or \"signature\"");
      }
      auto key = from_hex(a["validator"].get<std::string>());
      auto sig = from_hex(a["signature"].get<std::string>());
      if (!key || key->size() != 32 || !sig) return bad("an approval is not hex of the right size");
      const Hash32 validator = Hash32::from_span(*key);
      const std::string signature(sig->begin(), sig->end());
      if (!crypto::verify(validator, f.digest, as_bytes(signature))) {
        return bad("the approval of " + validator.hex() + " does not verify over this proposal");
      }
      f.approvals.emplace_back(validator, signature);
    }
  }
  std::sort(f.approvals.begin(), f.approvals.end());
  return f;
}

}  // namespace

int run_gov_propose(const Global& g, const GovProposeOptions& o) {
  pb::GovernanceProposal p;
  std::string chain_id = o.chain_id;
  std::string set_hash = o.set_hash;
  if (chain_id.empty() || set_hash.empty()) {
    // What the proposal binds to, from a node: its chain and the set in charge.
    rpc::RpcClient client(g.rpc_url);
    auto validators = client.call("get_validators");
    if (!validators) return fail(validators.status());
    if (set_hash.empty()) {
      if (!validators->contains("validator_set_hash")) {
        return fail("gov propose: the node does not report validator_set_hash; give --set-hash");
      }
      set_hash = (*validators)["validator_set_hash"].get<std::string>();
    }
    if (chain_id.empty()) {
      auto status = client.call("status");
      if (!status) return fail(status.status());
      chain_id = (*status)["chain_id"].get<std::string>();
    }
  }
  if (Status s = audit::validate_chain_id(chain_id); !s.ok()) return fail(s);
  auto set_bytes = hex_bytes(set_hash, 32, "--set-hash");
  if (!set_bytes) return fail(set_bytes.status());
  p.set_chain_id(chain_id);
  p.set_validator_set_hash(*set_bytes);
  p.set_memo(o.memo);
  p.set_effective_height(o.effective_height);

  const bool set_change =
      o.action == "add-validator" || o.action == "remove-validator" || o.action == "rotate-keys";
  if (set_change && o.effective_height == 0) {
    return fail("gov propose " + o.action +
                ": give --effective-height (the first height the changed set commits)");
  }
  if (!set_change && o.effective_height != 0) {
    return fail("gov propose " + o.action + ": --effective-height is only for validator-set changes");
  }
  if (o.action == "add-validator") {
    auto key = key_bytes(o.pubkey, "--pubkey");
    if (!key) return fail(key.status());
    auto tls = hex_bytes(o.tls_pubkey, 32, "--tls-pubkey");
    if (!tls) return fail(tls.status());
    if (o.name.empty() || o.p2p.empty()) return fail("gov propose add-validator: give --name and --p2p");
    auto* v = p.mutable_add_validator()->mutable_validator();
    v->set_name(o.name);
    v->set_pubkey(*key);
    v->set_tls_pubkey(*tls);
    v->set_p2p(o.p2p);
  } else if (o.action == "remove-validator") {
    auto key = key_bytes(o.pubkey, "--pubkey");
    if (!key) return fail(key.status());
    p.mutable_remove_validator()->set_pubkey(*key);
  } else if (o.action == "rotate-keys") {
    auto key = key_bytes(o.pubkey, "--pubkey");
    if (!key) return fail(key.status());
    auto* r = p.mutable_rotate_validator_keys();
    r->set_pubkey(*key);
    if (o.new_pubkey.empty() && o.new_tls_pubkey.empty()) {
      return fail("gov propose rotate-keys: give --new-pubkey and/or --new-tls-pubkey");
    }
    if (!o.new_pubkey.empty()) {
      auto k = key_bytes(o.new_pubkey, "--new-pubkey");
      if (!k) return fail(k.status());
      r->set_new_pubkey(*k);
    }
    if (!o.new_tls_pubkey.empty()) {
      auto t = hex_bytes(o.new_tls_pubkey, 32, "--new-tls-pubkey");
      if (!t) return fail(t.status());
      r->set_new_tls_pubkey(*t);
    }
  } else if (o.action == "roles") {
    auto key = key_bytes(o.account, "--account");
    if (!key) return fail(key.status());
    auto* c = p.mutable_change_roles();
    c->set_account(*key);
    auto sorted = [](std::vector<std::string> roles) {
      std::sort(roles.begin(), roles.end());
      roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
      return roles;
    };
    for (const auto& list : {o.grant, o.revoke}) {
      for (const auto& role : list) {
        if (!audit::is_known_role(role)) {
          return fail("gov propose roles: unknown role '" + role +
                      "' (validator, admin, submitter, partner)");
        }
      }
    }
    for (const auto& role : sorted(o.grant)) c->add_grant(role);
    for (const auto& role : sorted(o.revoke)) c->add_revoke(role);
    if (c->grant().empty() && c->revoke().empty())
      return fail("gov propose roles: give --grant and/or --revoke");
  } else if (o.action == "block-limits") {
    if (o.max_txs == 0 || o.max_bytes == 0)
      return fail("gov propose block-limits: give --max-txs and --max-bytes");
    p.mutable_set_block_limits()->set_max_txs(o.max_txs);
    p.mutable_set_block_limits()->set_max_bytes(o.max_bytes);
  } else {
    return fail("gov propose: unknown action '" + o.action + "'");
  }
  if (std::filesystem::exists(o.out))
    return fail("gov propose: " + o.out + " exists; refusing to overwrite it");
  ProposalFile f;
  f.proposal = p;
  f.bytes = proto::encode(p);
  f.digest = proto::governance_digest(chain_id, as_bytes(f.bytes));
  if (Status s = write_file_atomic(o.out, to_json(f).dump(2) + "\n"); !s.ok()) return fail(s);
  if (g.json) {
    print_json(to_json(f));
  } else {
    std::cout << "wrote " << o.out << ": " << action_json(p).dump() << "\ndigest " << f.digest.hex() << "\n";
  }
  return exit_ok;
}

int run_gov_sign(const Global& g, const GovSignOptions& o) {
  auto f = read_proposal_file(o.proposal);
  if (!f) return fail(f.status());
  auto key = crypto::read_key_file(o.key);
  if (!key) return fail(key.status());
  const Hash32 me = key->public_key();
  std::erase_if(f->approvals, [&me](const auto& a) { return a.first == me; });
  f->approvals.emplace_back(me, key->sign(f->digest).to_string());
  std::sort(f->approvals.begin(), f->approvals.end());
  if (Status s = write_file_atomic(o.proposal, to_json(*f).dump(2) + "\n"); !s.ok()) return fail(s);
  if (g.json) {
    print_json(to_json(*f));
  } else {
    std::cout << "approved by " << me.hex() << " (" << f->approvals.size() << " approval"
              << (f->approvals.size() == 1 ? "" : "s") << "): " << action_json(f->proposal).dump() << "\n";
  }
  return exit_ok;
}

int run_gov_show(const Global& g, const std::string& path) {
  auto f = read_proposal_file(path);
  if (!f) return fail(f.status());
  if (g.json) {
    print_json(to_json(*f));
    return exit_ok;
  }
  std::cout << "chain " << f->proposal.chain_id() << "\naction " << action_json(f->proposal).dump()
            << "\nset " << to_hex(as_bytes(f->proposal.validator_set_hash())) << "\n";
  if (f->proposal.effective_height() != 0)
    std::cout << "effective at height " << f->proposal.effective_height() << "\n";
  if (!f->proposal.memo().empty()) std::cout << "memo " << f->proposal.memo() << "\n";
  std::cout << "digest " << f->digest.hex() << "\n"
            << f->approvals.size() << " approval(s), each verified:\n";
  for (const auto& [key, sig] : f->approvals) std::cout << "  " << key.hex() << "\n";
  return exit_ok;
}

int run_gov_submit(const Global& g, const GovSubmitOptions& o) {
  auto f = read_proposal_file(o.proposal);
  if (!f) return fail(f.status());
  auto key = crypto::read_key_file(o.key);
  if (!key) return fail(key.status());
  rpc::RpcClient client(g.rpc_url);
  const std::string signer = key->public_key().hex();
  auto nonce = next_nonce(client, signer, f->proposal.chain_id(),
                          "a governance transaction needs the validator or admin role");
  if (!nonce) return fail("gov submit: " + nonce.status().message());
  pb::TxBody body;
  body.set_chain_id(f->proposal.chain_id());
  body.set_signer(key->public_key().to_string());
  body.set_nonce(*nonce);
  auto* action = body.mutable_governance();
  action->set_proposal(f->bytes);
  for (const auto& [validator, sig] : f->approvals) {
    auto* a = action->add_approvals();
    a->set_validator(validator.to_string());
    a->set_signature(sig);
  }
  const pb::Transaction tx = proto::sign_transaction(body, *key);
  auto r = submit_transaction(client, to_hex(as_bytes(proto::encode(tx))), o.wait, o.timeout_s);
  if (!r) return fail("gov submit: the node refused the action: " + r.status().message());
  if (g.json) {
    print_json(*r);
  } else {
    std::cout << "submitted tx " << (*r)["tx_hash"].get<std::string>();
    if (r->contains("height")) std::cout << ", committed at height " << (*r)["height"].get<std::uint64_t>();
    std::cout << "\n";
  }
  return exit_ok;
}

}  // namespace cityledger::cli
