// Votes per second through the consensus core, signature checks excluded.
//
// A follower core (no key: it never signs, so no BIP340 signing either) is
// fed, per height, a proposal, the application's "valid", n prevotes and n
// precommits, then CommitApplied; the inputs are built before timing starts.
// The core still does everything else per vote: checks, the signing digest
// (canonical encoding + SHA-256), storage, tallies, evidence checks, the
// upon-rules, certificates.
//
// Run: build-consensus/bin/consensus_bench (or scripts/bench.sh).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "consensus/core.hpp"
#include "proto/objects.hpp"

namespace {

using namespace cityledger;
using namespace cityledger::consensus;

// BENCHMARK ONLY: accepts every signature without looking at it, to measure
// the core's own cost. The SignatureVerifier contract forbids this anywhere
// else (types.hpp: implementations must be real checks).
class AcceptAllVerifierForBenchmarkOnly final : public SignatureVerifier {
 public:
  bool verify(const crypto::PublicKey&, const Hash32&, const std::string&) override { return true; }
};

constexpr const char* chain = "bench-chain";

struct Workload {
  ValidatorSet validators;
  std::vector<Input> inputs;
  std::size_t votes = 0;
};

Workload make_workload(std::uint32_t n, std::uint64_t heights) {
  Workload w;
  std::vector<crypto::PublicKey> keys;
  for (std::uint32_t i = 0; i < n; ++i)
    keys.push_back(crypto::SecretKey::from_seed_for_testing(i + 1).public_key());
  w.validators = ValidatorSet(keys);
  const std::string fake_signature(64, '\x5a');
  for (std::uint64_t h = 1; h <= heights; ++h) {
    pb::Block block;
    block.mutable_header()->set_chain_id(chain);
    block.mutable_header()->set_height(h);
    block.mutable_header()->set_time_unix_ms(h);
    block.mutable_header()->set_validator_set_hash(w.validators.hash().to_string());
    const BlockId id = proto::block_hash(block.header());
    pb::ProposalMessage proposal;
    proposal.mutable_proposal()->set_height(h);
    proposal.mutable_proposal()->set_pol_round(-1);
    proposal.mutable_proposal()->set_block_id(id.to_string());
    proposal.mutable_proposal()->set_proposer_index(w.validators.proposer(h, 0));
    proposal.mutable_proposal()->set_signature(fake_signature);
    *proposal.mutable_block() = block;
    w.inputs.emplace_back(ProposalReceived{proposal});
    w.inputs.emplace_back(BlockValidated{h, id, true});
    for (pb::VoteType type : {pb::VOTE_TYPE_PREVOTE, pb::VOTE_TYPE_PRECOMMIT}) {
      for (std::uint32_t i = 0; i < n; ++i) {
        pb::Vote vote;
        vote.set_type(type);
        vote.set_height(h);
        vote.set_block_id(id.to_string());
        vote.set_validator_index(i);
        vote.set_signature(fake_signature);
        w.inputs.emplace_back(VoteReceived{vote});
        ++w.votes;
      }
    }
    w.inputs.emplace_back(CommitApplied{h, w.validators});
  }
  return w;
}

void BM_CoreVotes(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  constexpr std::uint64_t heights = 200;
  const Workload w = make_workload(n, heights);
  AcceptAllVerifierForBenchmarkOnly verifier;
  std::uint64_t commits = 0;
  for (auto _ : state) {
    Config config;
    config.chain_id = chain;
    config.validators = w.validators;
    Core core(std::move(config), verifier);
    benchmark::DoNotOptimize(core.handle(Start{}));
    for (const Input& input : w.inputs) benchmark::DoNotOptimize(core.handle(input));
    commits += core.stats().commits;
  }
  if (commits != heights * state.iterations()) state.SkipWithError("the core did not commit every height");
  state.SetItemsProcessed(static_cast<std::int64_t>(w.votes * state.iterations()));
  state.counters["validators"] = n;
}
BENCHMARK(BM_CoreVotes)->Arg(4)->Arg(7)->Arg(31)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
