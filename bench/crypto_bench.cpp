// crypto micro-benchmarks: SHA-256, BIP340 sign and verify (ours and raw
// libsecp256k1, to show the wrapper costs nothing), Merkle proof verification.
#include <benchmark/benchmark.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <vector>

#include "crypto/merkle.hpp"
#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"
#include "crypto/signing.hpp"

namespace cityledger::crypto {
namespace {

void BM_Sha256(benchmark::State& state) {
  const std::vector<std::uint8_t> data(static_cast<std::size_t>(state.range(0)), 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(sha256(data));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(1024)->Arg(1 << 20);

void BM_SigningDigest(benchmark::State& state) {
  const std::vector<std::uint8_t> message(200, 1);
  for (auto _ : state) benchmark::DoNotOptimize(signing_digest(purpose::vote, "city-chain", message));
}
BENCHMARK(BM_SigningDigest);

void BM_Bip340Sign(benchmark::State& state) {
  const auto key = SecretKey::from_seed_for_testing(1);
  const Hash32 digest = sha256(std::string_view("message"));
  for (auto _ : state) benchmark::DoNotOptimize(key.sign(digest));
}
BENCHMARK(BM_Bip340Sign);

void BM_Bip340Verify(benchmark::State& state) {
  const auto key = SecretKey::from_seed_for_testing(1);
  const Hash32 digest = sha256(std::string_view("message"));
  const Signature sig = key.sign(digest);
  for (auto _ : state) benchmark::DoNotOptimize(verify(key.public_key(), digest, sig));
}
BENCHMARK(BM_Bip340Verify);

// The same verification straight through libsecp256k1: parse the x-only key
// and verify, as our wrapper must do for every call.
void BM_Bip340VerifyRawLibsecp256k1(benchmark::State& state) {
  const auto key = SecretKey::from_seed_for_testing(1);
  const Hash32 digest = sha256(std::string_view("message"));
  const Signature sig = key.sign(digest);
  secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  for (auto _ : state) {
    secp256k1_xonly_pubkey xonly;
    int ok = secp256k1_xonly_pubkey_parse(ctx, &xonly, key.public_key().data());
    ok &= secp256k1_schnorrsig_verify(ctx, sig.bytes.data(), digest.data(), 32, &xonly);
    benchmark::DoNotOptimize(ok);
  }
  secp256k1_context_destroy(ctx);
}
BENCHMARK(BM_Bip340VerifyRawLibsecp256k1);

void BM_MerkleVerifyInclusion(benchmark::State& state) {
  const std::uint64_t n = static_cast<std::uint64_t>(state.range(0));
  std::vector<Hash32> leaves;
  for (std::uint64_t i = 0; i < n; ++i) leaves.push_back(merkle::leaf_hash(as_bytes(std::to_string(i))));
  const Hash32 root = merkle::root(leaves);
  const std::uint64_t index = n / 3;
  const auto path = merkle::inclusion_path(leaves, index).value();
  for (auto _ : state)
    benchmark::DoNotOptimize(merkle::verify_inclusion(index, n, leaves[index], path, root));
}
BENCHMARK(BM_MerkleVerifyInclusion)->Arg(1 << 20);

}  // namespace
}  // namespace cityledger::crypto

BENCHMARK_MAIN();
