// Offline checks of PPP contract proofs (docs/contracts.md): a sealed
// (confidential) field's commitment, and a reveal document that proves one
// field of an anchored contract event without showing the others.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "audit/genesis.hpp"
#include "audit/proof_bundle.hpp"
#include "common/bytes.hpp"

namespace cityledger::audit {

inline constexpr const char* reveal_format_v1 = "cityledger-reveal/1";
inline constexpr const char* contract_event_kind = "contract-event";
inline constexpr const char* contract_registration_kind = "contract-registration";

//   SHA-256("cityledger/v1/sealed-field" || 0x00 || salt || u8(len(name)) || name || value)
// name is 1..32 bytes (proto::validate_contract_name), so one length byte is enough.
Hash32 sealed_field_commitment(const Hash32& salt, std::string_view name, std::string_view value);

// A reveal: {"format", "contract_id", "field", "value", "salt", "bundle"}.
// Verified when the bundle verifies (verify_proof_bundle, from genesis alone),
// its entry is a contract event of contract_id, and the entry's metadata
// "sealed.<field>" is the commitment of (salt, field, value). Never throws.
Verdict verify_reveal(const nlohmann::json& reveal, const Genesis& genesis);

}  // namespace cityledger::audit
