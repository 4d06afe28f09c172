// genesis.json: the network's root of trust (docs/genesis.md).
//
// The genesis hash is SHA-256 of the file's bytes exactly as distributed: it is
// the previous_block_hash of block 1, so every block, checkpoint and proof is
// bound to this one file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "crypto/schnorr.hpp"

namespace cityledger::audit {

inline constexpr const char* role_validator = "validator";
inline constexpr const char* role_admin = "admin";
inline constexpr const char* role_submitter = "submitter";
inline constexpr const char* role_partner = "partner";
bool is_known_role(const std::string& role);

struct GenesisValidator {
  std::string name;
  crypto::PublicKey pubkey;  // consensus key (BIP340 x-only)
  Hash32 tls_pubkey;         // SHA-256 of the TLS certificate's SubjectPublicKeyInfo (DER): the pin
  std::string p2p;           // host:port peers dial
  bool operator==(const GenesisValidator&) const = default;
};

struct GenesisAccount {
  crypto::PublicKey pubkey;
  std::vector<std::string> roles;
};

struct Genesis {
  std::string chain_id;
  std::string genesis_time;  // RFC 3339, UTC
  std::vector<GenesisValidator> validators;
  std::vector<GenesisAccount> accounts;
  Hash32 hash;  // SHA-256 of the file bytes; set by parse/load

  // Strict: unknown fields, malformed keys, duplicate validators or accounts,
  // unknown roles, an empty validator set are all refused with the reason.
  static Result<Genesis> parse(std::string_view json_text);
  static Result<Genesis> load(const std::filesystem::path& path);
  // Pretty JSON with a trailing newline; parse(to_json()) gives this genesis back.
  std::string to_json() const;
};

// Chain ids appear in signatures and the checkpoint origin line:
// 1..64 characters of [a-z0-9._-].
Status validate_chain_id(std::string_view chain_id);

}  // namespace cityledger::audit
