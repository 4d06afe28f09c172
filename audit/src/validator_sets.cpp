#include "audit/validator_sets.hpp"

#include <algorithm>
#include <set>

#include "audit/set_change.hpp"
#include "common/check.hpp"
#include "crypto/signing.hpp"
#include "json_fields.hpp"

namespace cityledger::audit {

using json_fields::hex32;
using json_fields::shape_problem;
using json_fields::u64;
using nlohmann::json;

const std::vector<GenesisValidator>& ValidatorSchedule::at(std::uint64_t height) const {
  CL_CHECK(!sets.empty());  // follow_validator_sets always starts with genesis's set
  auto it = std::upper_bound(sets.begin(), sets.end(), height,
                             [](std::uint64_t h, const auto& entry) { return h < entry.first; });
  return it == sets.begin() ? sets.front().second : std::prev(it)->second;
}

namespace {

// Records checks (when asked to) and remembers the first failure.
class Recorder {
 public:
  explicit Recorder(std::vector<Check>* checks) : checks_(checks) {}
  bool check(const std::string& name, bool passed, const std::string& detail) {
    if (checks_) checks_->push_back({name, passed, detail});
    if (!passed && first_failure_.empty()) first_failure_ = name + ": " + detail;
    return passed;
  }
  Status failure() const { return error(ErrorCode::invalid_argument, first_failure_); }

 private:
  std::vector<Check>* checks_;
  std::string first_failure_;
};

// One entry of "validator_sets": the approvals must be valid signatures by
// distinct members of `previous` over the proposal's governance digest, and at
// least the quorum of `previous`. "" when they are, else what is wrong.
std::string approval_problem(const json& approvals, const std::vector<GenesisValidator>& previous,
                             const std::string& chain_id, ByteSpan proposal) {
  if (!approvals.is_array() || approvals.size() > 1024) return "approvals must be an array (at most 1024)";
  const Hash32 digest = crypto::signing_digest(crypto::purpose::governance, chain_id, proposal);
  std::set<crypto::PublicKey> signers;
  for (const auto& a : approvals) {
    const std::string shape = shape_problem(a, "approval", {"validator", "signature"});
    if (!shape.empty()) return shape;
    auto key = hex32(a["validator"]);
    auto sig = a["signature"].is_string() ? crypto::Signature::from_hex(a["signature"].get<std::string>())
                                          : std::nullopt;
    if (!key || !sig || sig->hex() != a["signature"].get<std::string>())
      return "an approval must be {validator: 64 hex, signature: 128 hex}";
    const bool member = std::any_of(previous.begin(), previous.end(),
                                    [&](const GenesisValidator& v) { return v.pubkey == *key; });
    if (!member) return "approval by " + key->hex() + ", which is not a member of the set before the change";
    if (!signers.insert(*key).second) return "two approvals by " + key->hex();
    if (!crypto::verify(*key, digest, *sig))
      return "the approval of " + key->hex() + " does not verify over this proposal";
  }
  const std::size_t quorum = crypto::checkpoint_quorum(previous.size());
  if (signers.size() < quorum) {
    return std::to_string(signers.size()) + " valid approvals, " + std::to_string(quorum) + " of the " +
           std::to_string(previous.size()) + " validators before the change are needed";
  }
  return "";
}

std::optional<std::vector<GenesisValidator>> validators_from_json(const json& v) {
  if (!v.is_array() || v.size() > 1024) return std::nullopt;
  std::vector<GenesisValidator> out;
  for (const auto& member : v) {
    if (!shape_problem(member, "validator", {"name", "pubkey", "tls_pubkey", "p2p"}).empty())
      return std::nullopt;
    auto key = hex32(member["pubkey"]);
    auto pin = hex32(member["tls_pubkey"]);
    if (!key || !pin || !member["name"].is_string() || !member["p2p"].is_string()) return std::nullopt;
    out.push_back({member["name"].get<std::string>(), *key, *pin, member["p2p"].get<std::string>()});
  }
  return out;
}

// Follows "validator_sets" from genesis (docs/proof-format.md): each change in
// order of strictly increasing effective height, for this chain, naming the
// hash of the set before it, approved by a quorum of that set, applied by the
// node's rules; every change takes effect at or before the checkpoint's
// height. Returns the schedule, or the failed check as an error.
Result<ValidatorSchedule> follow(Recorder& c, const json& sets, const Genesis& genesis,
                                 std::uint64_t height) {
  if (!c.check("validator_sets", sets.is_array() && sets.size() <= 1024,
               "validator_sets must be an array of at most 1024 set changes")) {
    return c.failure();
  }
  ValidatorSchedule schedule;
  schedule.sets.emplace_back(1, genesis.validators);
  std::vector<GenesisValidator> current = genesis.validators;
  std::uint64_t previous_height = 1;  // genesis's set is in charge from height 1
  for (std::size_t i = 0; i < sets.size(); ++i) {
    const json& change = sets[i];
    std::string where = "validator_sets[" + std::to_string(i) + "]";
    const std::string shape =
        shape_problem(change, where, {"effective_height", "proposal", "approvals"}, {"validators"});
    if (!c.check("set_change_shape", shape.empty(), shape)) return c.failure();
    const auto effective = u64(change["effective_height"]);
    const auto hex =
        change["proposal"].is_string() ? change["proposal"].get<std::string>() : std::string("-");
    const auto proposal = from_hex(hex);
    if (!c.check("set_change_shape", effective && proposal && !proposal->empty() && to_hex(*proposal) == hex,
                 where + " needs effective_height (a number) and proposal (lowercase hex)")) {
      return c.failure();
    }
    where += " (effective at height " + std::to_string(*effective) + ")";
    if (!c.check("set_change_order", *effective > previous_height,
                 where + ": effective heights must increase strictly from genesis (height 1), after " +
                     std::to_string(previous_height))) {
      return c.failure();
    }
    if (!c.check("set_change_height", *effective <= height,
                 where + ": takes effect after the checkpoint's height " + std::to_string(height))) {
      return c.failure();
    }
    auto decoded = decode_set_change_proposal(*proposal);
    if (!c.check("set_change_proposal", decoded.ok(),
                 decoded.ok() ? "" : where + ": proposal: " + decoded.status().message())) {
      return c.failure();
    }
    if (!c.check(
            "set_change_effective_height", decoded->effective_height == *effective,
            where + ": the proposal says effective_height " + std::to_string(decoded->effective_height))) {
      return c.failure();
    }
    if (!c.check("set_change_chain", decoded->chain_id == genesis.chain_id,
                 where + ": the proposal is for chain '" + decoded->chain_id + "'")) {
      return c.failure();
    }
    const Hash32 before = validator_set_hash(current);
    if (!c.check("set_change_set_hash", decoded->validator_set_hash == before,
                 where + ": the proposal names set " + decoded->validator_set_hash.hex() +
                     ", but the set before it is " + before.hex() + " (stale or out of order)")) {
      return c.failure();
    }
    const std::string approvals = approval_problem(change["approvals"], current, genesis.chain_id, *proposal);
    if (!c.check("set_change_approvals", approvals.empty(), where + ": " + approvals)) return c.failure();
    auto next = apply_set_change(current, *decoded);
    if (!c.check("set_change_apply", next.ok(), next.ok() ? "" : where + ": " + next.status().message())) {
      return c.failure();
    }
    if (change.contains("validators")) {
      const auto listed = validators_from_json(change["validators"]);
      const bool same = listed && listed->size() == next->size() &&
                        std::equal(listed->begin(), listed->end(), next->begin(),
                                   [](const GenesisValidator& a, const GenesisValidator& b) {
                                     return a.name == b.name && a.pubkey == b.pubkey &&
                                            a.tls_pubkey == b.tls_pubkey && a.p2p == b.p2p;
                                   });
      if (!c.check("set_change_validators", same,
                   where + ": the listed validators are not the set the change produces")) {
        return c.failure();
      }
    }
    current = std::move(next).value();
    previous_height = *effective;
    schedule.sets.emplace_back(*effective, current);
  }
  return schedule;
}

}  // namespace

Result<ValidatorSchedule> follow_validator_sets(const json& sets, const Genesis& genesis,
                                                std::uint64_t max_height, std::vector<Check>* checks) {
  Recorder recorder(checks);
  try {
    return follow(recorder, sets, genesis, max_height);
  } catch (const json::exception& e) {
    recorder.check("validator_sets", false, std::string("malformed validator_sets: ") + e.what());
    return recorder.failure();
  }
}

Result<CountedCheckpoint> count_checkpoint_signatures(const json& checkpoint, const Genesis& genesis,
                                                      const ValidatorSchedule& schedule) {
  if (!checkpoint.is_object() || !checkpoint.contains("body") || !checkpoint["body"].is_string() ||
      !checkpoint.contains("signatures") || !checkpoint["signatures"].is_array()) {
    return error(ErrorCode::invalid_argument, "checkpoint lacks body or signatures");
  }
  CountedCheckpoint out;
  out.body_text = checkpoint["body"].get<std::string>();
  auto body = crypto::CheckpointBody::parse(out.body_text);
  if (!body) return error(ErrorCode::invalid_argument, "checkpoint body: " + body.status().message());
  out.body = *body;
  if (body->origin != genesis.chain_id) {
    return error(ErrorCode::invalid_argument,
                 "checkpoint is for chain " + body->origin + ", not " + genesis.chain_id);
  }
  std::vector<crypto::CheckpointSignature> sigs;
  for (const auto& s : checkpoint["signatures"]) {
    auto key = s.is_object() && s.contains("validator") ? hex32(s["validator"]) : std::nullopt;
    auto sig = s.is_object() && s.contains("signature") && s["signature"].is_string()
                   ? crypto::Signature::from_hex(s["signature"].get<std::string>())
                   : std::nullopt;
    if (key && sig) {
      sigs.push_back({*key, *sig});
    } else {
      out.ignored.push_back("a malformed signature entry");
    }
  }
  const auto& in_charge = schedule.at(body->height);
  std::vector<crypto::PublicKey> members;
  for (const auto& v : in_charge) members.push_back(v.pubkey);
  out.signers = crypto::count_valid_checkpoint_signatures(out.body_text, sigs, members, &out.ignored);
  out.quorum = crypto::checkpoint_quorum(members.size());
  if (out.signers < out.quorum) {
    std::string detail = "checkpoint of height " + std::to_string(body->height) + " has " +
                         std::to_string(out.signers) + " valid signatures of the " +
                         std::to_string(members.size()) + " validators in charge; the quorum is " +
                         std::to_string(out.quorum);
    for (const auto& p : out.ignored) detail += "; " + p;
    return error(ErrorCode::permission_denied, detail);
  }
  return out;
}

Status check_same_set_history(const json& kept, const json& served, std::uint64_t height) {
  if (!kept.is_array() || !served.is_array())
    return error(ErrorCode::invalid_argument, "validator_sets must be arrays");
  auto effective_text = [](const json& change) {
    return change.is_object() && change.contains("effective_height") ? change["effective_height"].dump()
                                                                     : std::string("?");
  };
  const std::size_t common = std::min(kept.size(), served.size());
  for (std::size_t i = 0; i < common; ++i) {
    if (kept[i] != served[i]) {
      return error(ErrorCode::corruption,
                   "set change " + std::to_string(i) + " (effective at height " + effective_text(kept[i]) +
                       ") differs from the one verified before: the validator-set history forks");
    }
  }
  for (std::size_t i = common; i < kept.size(); ++i) {
    const auto effective = kept[i].is_object() && kept[i].contains("effective_height")
                               ? u64(kept[i]["effective_height"])
                               : std::nullopt;
    if (!effective || *effective <= height) {
      return error(ErrorCode::corruption, "the node omits the set change effective at height " +
                                              effective_text(kept[i]) +
                                              ", verified before, for a checkpoint of height " +
                                              std::to_string(height) + ": the validator-set history forks");
    }
  }
  return {};
}

}  // namespace cityledger::audit
