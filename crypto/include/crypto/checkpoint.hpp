// Checkpoints: a signed statement "the log of chain C had N leaves with root R
// after block H". The body follows the C2SP tlog-checkpoint text format:
//
//   <origin>\n            the chain id
//   <tree size>\n         decimal, no leading zeros
//   <root hash>\n         standard base64 of the 32-byte RFC 9162 root
//   height <H>\n          extension line: the block that produced it
//   block <hex>\n         extension line: that block's hash
//
// Each validator signs SHA-256(body) with BIP340 (the format auditors' tools
// expect). That digest is still bound to the chain (the origin line) and can
// never equal one of our domain-separated digests: those hash a message that
// starts with "cityledger/v1/sig", and a chain id cannot contain '/'. A
// checkpoint is final with valid signatures of at least 2f+1 distinct members
// of the validator set in charge of that height.
//
// Verification here needs nothing but crypto, so an auditor's verifier stays
// small enough to read (DESIGN.md: the CLI verifies with crypto/ alone).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "crypto/schnorr.hpp"

namespace cityledger::crypto {

struct CheckpointBody {
  std::string origin;  // chain id
  std::uint64_t tree_size = 0;
  Hash32 root;
  std::uint64_t height = 0;
  Hash32 block_hash;

  std::string to_text() const;
  // Strict: exactly the five lines above, canonical numbers and encodings.
  static Result<CheckpointBody> parse(std::string_view text);
  auto operator<=>(const CheckpointBody&) const = default;
};

Hash32 checkpoint_digest(std::string_view body_text);  // SHA-256(body)

struct CheckpointSignature {
  PublicKey validator;
  Signature signature;
};

// Counts the distinct members of `validators` with a valid signature over the
// body; signatures by non-members, duplicates and invalid ones are ignored
// (and listed in `problems` when given).
std::size_t count_valid_checkpoint_signatures(std::string_view body_text,
                                              const std::vector<CheckpointSignature>& signatures,
                                              const std::vector<PublicKey>& validators,
                                              std::vector<std::string>* problems = nullptr);

// 2f+1 for n = 3f+1 validators (n - floor((n-1)/3) in general).
std::size_t checkpoint_quorum(std::size_t validator_count);

std::string base64_encode(ByteSpan data);
std::optional<Bytes> base64_decode(std::string_view text);  // strict: canonical padding, no whitespace

}  // namespace cityledger::crypto
