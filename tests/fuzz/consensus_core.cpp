// Arbitrary peer bytes into a consensus core. The input is a sequence of
// records [kind: u8][length: u16 little-endian][bytes], each decoded as
//   0 Envelope (its vote or proposal), 1 Vote, 2 ProposalMessage,
//   3 CommittedBlock, 4 a timeout (bytes: round, step) at the current height,
//   5 the answer to the latest ValidateBlock (bytes[0] & 1 = valid).
// The harness answers Persist, BuildBlock and Commit itself. The core must
// never crash, never sign two different messages for one (height, round,
// step), commit at most once per height, and only with a sorted quorum.
//
// Signatures: a fuzz-only verifier accepts a signature whose first byte is
// 0x01 and refuses any other, so both paths are reachable without the fuzzer
// having to forge BIP340 signatures.
#include <cstring>
#include <map>
#include <string>

#include "consensus/core.hpp"
#include "fuzz_common.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

using namespace cityledger;
using namespace cityledger::consensus;

namespace {

class FirstByteVerifierForFuzzingOnly final : public SignatureVerifier {
 public:
  bool verify(const crypto::PublicKey&, const Hash32&, const std::string& signature) override {
    return !signature.empty() && signature[0] == '\x01';
  }
};

constexpr std::uint32_t validators_n = 4;

ValidatorSet make_validators() {
  std::vector<crypto::PublicKey> keys;
  for (std::uint32_t i = 0; i < validators_n; ++i) {
    keys.push_back(crypto::SecretKey::from_seed_for_testing(i + 1).public_key());
  }
  return ValidatorSet(keys);
}

struct Harness {
  FirstByteVerifierForFuzzingOnly verifier;
  ValidatorSet validators = make_validators();
  std::unique_ptr<Core> core;
  std::map<std::tuple<std::uint64_t, std::uint32_t, std::uint32_t>, std::string> signed_by_us;
  std::map<std::uint64_t, std::string> committed;
  std::optional<BlockValidated> last_validate;

  Harness() {
    Config config;
    config.chain_id = fuzz::chain_id;
    config.key = crypto::SecretKey::from_seed_for_testing(1);  // validator 0
    config.validators = validators;
    config.future_messages_max = 64;
    core = std::make_unique<Core>(std::move(config), verifier);
    feed(Start{});
  }

  void check_signed(const pb::Envelope& envelope) {
    std::tuple<std::uint64_t, std::uint32_t, std::uint32_t> key;
    std::string content;
    if (envelope.has_vote()) {
      const pb::Vote& v = envelope.vote();
      if (v.validator_index() != 0) return;  // a relay of someone else's vote
      key = {v.height(), v.round(), static_cast<std::uint32_t>(v.type()) + 1};
      content = v.block_id();
    } else if (envelope.has_proposal()) {
      const pb::Proposal& p = envelope.proposal().proposal();
      key = {p.height(), p.round(), 1};
      content = p.block_id() + std::to_string(p.pol_round());
    } else {
      return;
    }
    auto [it, inserted] = signed_by_us.emplace(key, content);
    FUZZ_ASSERT(inserted || it->second == content);
  }

  void feed(const Input& first) {
    std::vector<Input> pending{first};
    for (std::size_t i = 0; i < pending.size(); ++i) {
      FUZZ_ASSERT(i < 10'000);
      const std::vector<Output> outputs = core->handle(pending[i]);
      for (const Output& output : outputs) {
        if (const auto* persist = std::get_if<Persist>(&output)) {
          check_signed(persist->state.message());
          pending.emplace_back(Persisted{persist->state});
        } else if (const auto* broadcast = std::get_if<Broadcast>(&output)) {
          check_signed(broadcast->envelope);
        } else if (const auto* validate = std::get_if<ValidateBlock>(&output)) {
          last_validate = BlockValidated{validate->height, validate->block_id, true};
        } else if (const auto* build = std::get_if<BuildBlock>(&output)) {
          pb::Block block;
          block.mutable_header()->set_chain_id(fuzz::chain_id);
          block.mutable_header()->set_height(build->height);
          block.mutable_header()->set_time_unix_ms(build->round);
          *block.mutable_last_commit() = build->last_commit;
          pending.emplace_back(BlockBuilt{build->height, build->round, block});
        } else if (const auto* commit = std::get_if<Commit>(&output)) {
          const std::uint64_t height = commit->block.header().height();
          FUZZ_ASSERT(!committed.contains(height));
          committed[height] = proto::block_hash(commit->block.header()).to_string();
          const auto& signatures = commit->certificate.signatures();
          FUZZ_ASSERT(static_cast<std::uint32_t>(signatures.size()) >= validators.quorum());
          for (int k = 1; k < signatures.size(); ++k) {
            FUZZ_ASSERT(signatures[k - 1].validator_index() < signatures[k].validator_index());
          }
          pending.emplace_back(CommitApplied{height, validators});
        }
      }
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness h;
  std::size_t at = 0;
  for (int records = 0; records < 256 && at + 3 <= size; ++records) {
    const std::uint8_t kind = data[at];
    const std::size_t length = std::min<std::size_t>(data[at + 1] | (data[at + 2] << 8), size - at - 3);
    const ByteSpan bytes{data + at + 3, length};
    at += 3 + length;
    switch (kind % 6) {
      case 0: {
        auto envelope = proto::decode<pb::Envelope>(bytes);
        if (!envelope.ok()) break;
        if (envelope->has_vote()) h.feed(VoteReceived{envelope->vote()});
        if (envelope->has_proposal()) h.feed(ProposalReceived{envelope->proposal()});
        break;
      }
      case 1:
        if (auto vote = proto::decode<pb::Vote>(bytes); vote.ok()) h.feed(VoteReceived{*vote});
        break;
      case 2:
        if (auto p = proto::decode<pb::ProposalMessage>(bytes); p.ok()) h.feed(ProposalReceived{*p});
        break;
      case 3:
        if (auto c = proto::decode<pb::CommittedBlock>(bytes); c.ok()) h.feed(CommittedBlockReceived{*c});
        break;
      case 4: {
        const std::uint32_t round = length > 0 ? bytes[0] : 0;
        const auto step = static_cast<Step>(1 + (length > 1 ? bytes[1] % 3 : 0));
        h.feed(TimeoutFired{h.core->height(), round, step});
        break;
      }
      case 5:
        if (h.last_validate) {
          BlockValidated answer = *h.last_validate;
          answer.valid = length > 0 && (bytes[0] & 1) != 0;
          h.feed(answer);
        }
        break;
    }
  }
  return 0;
}
