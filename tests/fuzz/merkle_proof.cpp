// Proof verification with attacker-chosen proofs, sizes and indexes (what an
// auditor's verifier is handed). Layout of the input:
//   u64 index | u64 size | u64 first | 32-byte leaf | 32-byte root | 32-byte
//   first root | path hashes (32 bytes each, the rest)
// Verification must never crash, and must never accept a proof for a root it
// did not compute.
#include <cstring>
#include <vector>

#include "crypto/merkle.hpp"
#include "fuzz_common.hpp"

using namespace cityledger;

namespace {
std::uint64_t read_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t header = 24 + 96;
  if (size < header) return 0;
  const std::uint64_t index = read_u64(data);
  const std::uint64_t tree_size = read_u64(data + 8);
  const std::uint64_t first = read_u64(data + 16);
  const Hash32 leaf = Hash32::from_span({data + 24, 32});
  const Hash32 root = Hash32::from_span({data + 56, 32});
  const Hash32 first_root = Hash32::from_span({data + 88, 32});
  std::vector<Hash32> path;
  for (std::size_t off = header; off + 32 <= size && path.size() < 70; off += 32) {
    path.push_back(Hash32::from_span({data + off, 32}));
  }
  const auto computed = crypto::merkle::root_from_inclusion(index, tree_size, leaf, path);
  const bool included = crypto::merkle::verify_inclusion(index, tree_size, leaf, path, root);
  FUZZ_ASSERT(included == (computed.has_value() && *computed == root));
  (void)crypto::merkle::verify_consistency(first, tree_size, first_root, root, path);
  return 0;
}
