// RFC 9162 (Certificate Transparency v2) Merkle tree hashing and proof
// verification, as pure functions on in-memory values.
//
//   leaf hash  = SHA-256(0x00 || leaf bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   empty tree = SHA-256("")
//
// The proof builders here work on a full list of leaf hashes: they serve
// tests, small trees (the records of one dataset) and the reference model the
// ledger's stored log is checked against. The ledger builds proofs for the
// global log from stored subtree hashes instead.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::crypto::merkle {

Hash32 leaf_hash(ByteSpan leaf);
Hash32 node_hash(const Hash32& left, const Hash32& right);
Hash32 empty_root();

// MTH(D[0:n]) over leaf hashes.
Hash32 root(std::span<const Hash32> leaf_hashes);

// PATH(m, D[0:n]) and PROOF(m, D[0:n]) over leaf hashes.
// Preconditions (invalid_argument otherwise): index < n, 0 < first <= second <= n.
Result<std::vector<Hash32>> inclusion_path(std::span<const Hash32> leaf_hashes, std::uint64_t index);
Result<std::vector<Hash32>> consistency_proof(std::span<const Hash32> leaf_hashes, std::uint64_t first,
                                              std::uint64_t second);

// RFC 9162 section 2.1.3.2: true iff `path` proves that `leaf` is leaf
// `index` of the tree of `tree_size` leaves whose root is `root`.
bool verify_inclusion(std::uint64_t index, std::uint64_t tree_size, const Hash32& leaf,
                      std::span<const Hash32> path, const Hash32& root);

// The root that an inclusion path implies, or nullopt when the path has the
// wrong length for (index, tree_size).
std::optional<Hash32> root_from_inclusion(std::uint64_t index, std::uint64_t tree_size, const Hash32& leaf,
                                          std::span<const Hash32> path);

// RFC 9162 section 2.1.4.2: true iff `proof` shows the tree of size `second`
// with root `second_root` extends the tree of size `first` with `first_root`.
// first == second needs an empty proof and equal roots; first == 0 is refused
// (RFC 9162 defines no proof from the empty tree; every tree extends it).
bool verify_consistency(std::uint64_t first, std::uint64_t second, const Hash32& first_root,
                        const Hash32& second_root, std::span<const Hash32> proof);

// Largest power of two strictly smaller than n (n >= 2): the RFC's split point k.
std::uint64_t split_point(std::uint64_t n);

}  // namespace cityledger::crypto::merkle
