// Strict reading of bundle JSON shared by the audit verifiers (proof bundles,
// validator_sets). Internal to audit/.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/bytes.hpp"

namespace cityledger::audit::json_fields {

// A 64-hex string, lowercase only.
inline std::optional<Hash32> hex32(const nlohmann::json& v) {
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  auto h = Hash32::from_hex(s);
  if (!h || h->hex() != s) return std::nullopt;
  return h;
}

// "" when `object` is an object with every required key and no key outside
// required + optional; otherwise what is wrong. Bundles are strict so that no
// byte of one can change without verification noticing.
inline std::string shape_problem(const nlohmann::json& object, const std::string& where,
                                 std::initializer_list<const char*> required,
                                 std::initializer_list<const char*> optional = {}) {
  if (!object.is_object()) return where + " must be an object";
  for (const char* key : required) {
    if (!object.contains(key)) return where + " lacks \"" + key + "\"";
  }
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (const char* k : required) known = known || key == k;
    for (const char* k : optional) known = known || key == k;
    if (!known) return where + " has an unknown field \"" + key + "\"";
  }
  return "";
}

inline std::optional<std::uint64_t> u64(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0)
    return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return std::nullopt;
}

}  // namespace cityledger::audit::json_fields
