#include "audit/contracts.hpp"

#include "crypto/sha256.hpp"

namespace cityledger::audit {

using nlohmann::json;

Hash32 sealed_field_commitment(const Hash32& salt, std::string_view name, std::string_view value) {
  crypto::Sha256 h;
  static constexpr char domain[] = "cityledger/v1/sealed-field";
  h.update(std::string_view(domain, sizeof(domain)));  // with its 0x00 terminator
  h.update(salt.span());
  const std::uint8_t length = static_cast<std::uint8_t>(name.size());
  h.update(ByteSpan(&length, 1));
  h.update(name);
  h.update(value);
  return h.finish();
}

Verdict verify_reveal(const json& reveal, const Genesis& genesis) {
  Verdict v;
  auto fail = [&v](std::string name, std::string detail) {
    v.checks.push_back({std::move(name), false, std::move(detail)});
    v.verified = false;
    return v;
  };
  const auto text = [&reveal](const char* key) -> std::optional<std::string> {
    if (!reveal.is_object() || !reveal.contains(key) || !reveal[key].is_string()) return std::nullopt;
    return reveal[key].get<std::string>();
  };
  if (text("format") != std::string(reveal_format_v1)) {
    return fail("reveal format", std::string("\"format\" must be \"") + reveal_format_v1 + "\"");
  }
  const auto contract_id = text("contract_id");
  const auto field = text("field");
  const auto value = text("value");
  const auto salt_hex = text("salt");
  if (!contract_id || !field || !value || !salt_hex) {
    return fail("reveal format", "contract_id, field, value and salt must be strings");
  }
  const auto salt = Hash32::from_hex(*salt_hex);
  if (!salt) return fail("reveal format", "salt must be 64 hex digits");
  if (field->empty() || field->size() > 32) return fail("reveal format", "field name must be 1..32 bytes");
  if (!reveal.contains("bundle")) return fail("reveal format", "no \"bundle\"");
  v.checks.push_back({"reveal format", true, *field + " of contract " + *contract_id});

  Verdict bundle = verify_proof_bundle(reveal["bundle"], genesis);
  v.checks.insert(v.checks.end(), bundle.checks.begin(), bundle.checks.end());
  v.content_hash = bundle.content_hash;
  v.leaf_index = bundle.leaf_index;
  v.tree_size = bundle.tree_size;
  v.height = bundle.height;
  v.block_hash = bundle.block_hash;
  v.signers = bundle.signers;
  v.quorum = bundle.quorum;
  if (!bundle.verified) {
    v.verified = false;
    return v;
  }
  // The bundle verified, so "entry" agrees with the signed leaf bytes.
  const json& entry = reveal["bundle"]["entry"];
  const auto entry_text = [&entry](const char* key) {
    return entry.is_object() && entry.contains(key) && entry[key].is_string() ? entry[key].get<std::string>()
                                                                              : std::string();
  };
  if (entry_text("kind") != contract_event_kind || entry_text("dataset_id") != *contract_id) {
    return fail("contract event", "the bundle's entry is not an event of contract " + *contract_id);
  }
  v.checks.push_back({"contract event", true, "an event of contract " + *contract_id});
  const std::string key = "sealed." + *field;
  const json meta = entry.contains("metadata") ? entry["metadata"] : json::object();
  if (!meta.is_object() || !meta.contains(key) || !meta[key].is_string()) {
    return fail("sealed field", "the event has no sealed field '" + *field + "'");
  }
  const Hash32 commitment = sealed_field_commitment(*salt, *field, *value);
  if (meta[key].get<std::string>() != commitment.hex()) {
    return fail("sealed field", "value and salt do not match the commitment anchored for '" + *field + "'");
  }
  v.checks.push_back(
      {"sealed field", true, "'" + *field + "' = " + json(*value).dump() + " matches its commitment"});
  v.verified = true;
  return v;
}

}  // namespace cityledger::audit
