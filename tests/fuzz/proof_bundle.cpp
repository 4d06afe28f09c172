// Proof bundles (and sealed-field reveals) are files auditors receive from
// anyone: any bytes, parsed as JSON and verified, must give a verdict and
// never crash or throw.
#include "audit/proof_bundle.hpp"

#include <nlohmann/json.hpp>

#include "audit/contracts.hpp"
#include "fuzz_common.hpp"

using namespace cityledger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const audit::Genesis genesis = [] {
    audit::Genesis g;
    g.chain_id = fuzz::chain_id;
    for (int i = 0; i < 4; ++i) {
      g.validators.push_back({"v" + std::to_string(i),
                              crypto::SecretKey::from_seed_for_testing(10 + i).public_key(), Hash32{}, ""});
    }
    return g;
  }();
  const auto doc = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  const auto verdict = audit::verify_proof_bundle(doc, genesis);
  (void)verdict.to_json().dump();
  // The same bytes as a sealed-field reveal, and as the bundle inside one.
  (void)audit::verify_reveal(doc, genesis).to_json().dump();
  const nlohmann::json reveal = {
      {"format", audit::reveal_format_v1}, {"contract_id", "c"}, {"field", "f"}, {"value", "v"},
      {"salt", std::string(64, '0')},      {"bundle", doc}};
  (void)audit::verify_reveal(reveal, genesis).to_json().dump();
  return 0;
}
