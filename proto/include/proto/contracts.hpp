// The stateless rules of PPP contract actions (docs/contracts.md): the shape
// of a registration or an event, what its co-signatures sign, and the log
// leaf it becomes. What depends on the ledger (is the contract registered, did
// the parties its rules name co-sign) is node/contract_book.hpp's.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::proto {

inline constexpr std::size_t max_contract_parties = 15;
inline constexpr std::size_t max_contract_rules = 15;
inline constexpr std::size_t max_contract_id_bytes = 128;
inline constexpr std::size_t max_contract_title_bytes = 256;
inline constexpr std::size_t max_contract_name_bytes = 32;
inline constexpr std::size_t max_event_field_value_bytes = 256;
inline constexpr std::uint32_t max_money_scale = 18;
// Kinds whose structured fields are required.
inline constexpr std::string_view event_kind_payment = "payment";
inline constexpr std::string_view event_kind_cost_share = "cost-share";

// Party names, event kinds, field and document names: 1..32 of [a-z0-9_-].
Status validate_contract_name(std::string_view name, std::string_view what);
// Contract ids: 1..128 of [A-Za-z0-9._:-].
Status validate_contract_id(std::string_view id);

// The whole action's shape: one of registration/event, every field within its
// limits and in canonical order, co-signatures well formed and ascending, and
// its log leaf within the metadata limits. Signatures are not checked here.
Status validate_contract_action(const pb::ContractAction& action);
// The registration or event alone (a draft before anyone co-signed it).
Status validate_contract_subject(const pb::ContractAction& action);

// What a co-signature of this action signs.
Hash32 contract_cosign_digest(const pb::ContractAction& action, std::string_view chain_id);
// SHA-256 of the canonical registration or event bytes: the leaf's content_hash.
Hash32 contract_subject_hash(const pb::ContractAction& action);
const std::string& contract_id_of(const pb::ContractAction& action);

// The entry the action adds to the log: content_hash = contract_subject_hash,
// kind CONTRACT_REGISTRATION or CONTRACT_EVENT, dataset_id = the contract id,
// and the registration's or event's fields as metadata (docs/contracts.md).
pb::AnchorEntry contract_anchor_entry(const pb::ContractAction& action);

// "1250.00 EUR"
std::string format_money(const pb::Money& money);

// The action as people read it (RPC results, the CLI's drafts): keys and
// hashes as lowercase hex, money as "1250.00 EUR", shares in basis points.
nlohmann::json contract_action_json(const pb::ContractAction& action);

}  // namespace cityledger::proto
