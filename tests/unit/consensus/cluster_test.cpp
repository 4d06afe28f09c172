// A few cores wired together with an in-memory network and a simulated clock:
// a smoke test that the rules add up to committed heights, also with silent
// validators and lost messages. The real simulator (random faults, thousands
// of seeds, Byzantine nodes, crashes) is tests/sim/.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <queue>
#include <set>

#include "harness.hpp"

namespace cityledger::consensus::testing {
namespace {

class MiniCluster {
 public:
  MiniCluster(std::uint32_t n, std::set<std::uint32_t> silent, std::uint64_t lose_every = 0,
              std::uint64_t seed = 42)
      : random_(seed), v_(n), silent_(std::move(silent)), lose_every_(lose_every) {
    for (std::uint32_t i = 0; i < n; ++i) {
      Config config = v_.config(i);
      config.timeouts = Timeouts{100, 50, 50, 25, 50, 25};
      nodes_.push_back(std::make_unique<Core>(std::move(config), verifier_));
      committed_.emplace_back();
      if (!silent_.contains(i)) push(0, i, Start{});
    }
  }

  // Runs until every live node has committed `heights` heights; false on timeout.
  bool run(std::uint64_t heights, std::uint64_t time_limit_ms) {
    while (!queue_.empty()) {
      Event event = queue_.top();
      queue_.pop();
      now_ = event.time;
      if (now_ > time_limit_ms) {
        for (std::uint32_t i = 0; i < nodes_.size(); ++i)
          ADD_FAILURE() << "node " << i << " stuck at height " << nodes_[i]->height() << " round "
                        << nodes_[i]->round() << " step " << step_name(nodes_[i]->step());
        return false;
      }
      for (Output& output : nodes_[event.node]->handle(event.input)) execute(event.node, output);
      bool done = true;
      for (std::uint32_t i = 0; i < nodes_.size(); ++i) {
        if (!silent_.contains(i) && committed_[i].size() < heights) done = false;
      }
      if (done) return true;
    }
    return false;
  }

  // No two live nodes committed different blocks at one height.
  void expect_agreement() const {
    for (std::uint32_t i = 0; i < nodes_.size(); ++i) {
      for (const auto& [height, committed] : committed_[i]) {
        const BlockId id = Validators::id(committed.block());
        for (std::uint32_t j = 0; j < i; ++j) {
          auto it = committed_[j].find(height);
          if (it != committed_[j].end()) {
            EXPECT_EQ(Validators::id(it->second.block()), id) << "height " << height;
          }
        }
      }
    }
  }

  std::uint64_t evidence = 0;
  std::uint64_t catch_ups = 0;

 private:
  struct Event {
    std::uint64_t time;
    std::uint64_t sequence;
    std::uint32_t node;
    Input input;
    bool operator>(const Event& other) const {
      return std::tie(time, sequence) > std::tie(other.time, other.sequence);
    }
  };

  // A fixed-seed generator: losses look random but replay exactly.
  std::uint64_t next_random() {
    random_ = random_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return random_ >> 33;
  }

  void push(std::uint64_t at, std::uint32_t node, Input input) {
    queue_.push(Event{at, sequence_++, node, std::move(input)});
  }

  void execute(std::uint32_t node, Output& output) {
    std::visit(
        [&](auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, Broadcast>) {
            for (std::uint32_t to = 0; to < nodes_.size(); ++to) {
              if (to == node || silent_.contains(to)) continue;
              if (lose_every_ != 0 && next_random() % lose_every_ == 0) continue;
              if (o.envelope.has_vote()) push(now_ + 3, to, VoteReceived{o.envelope.vote()});
              if (o.envelope.has_proposal()) push(now_ + 3, to, ProposalReceived{o.envelope.proposal()});
            }
          } else if constexpr (std::is_same_v<T, ScheduleTimeout>) {
            push(now_ + o.duration_ms, node, TimeoutFired{o.height, o.round, o.step});
          } else if constexpr (std::is_same_v<T, ValidateBlock>) {
            push(now_ + 1, node, BlockValidated{o.height, o.block_id, true});
          } else if constexpr (std::is_same_v<T, BuildBlock>) {
            pb::Block block = v_.block(o.height, node * 1000 + o.round, o.round);
            *block.mutable_last_commit() = o.last_commit;
            push(now_ + 1, node, BlockBuilt{o.height, o.round, block});
          } else if constexpr (std::is_same_v<T, Persist>) {
            push(now_ + 1, node, Persisted{o.state});
          } else if constexpr (std::is_same_v<T, Commit>) {
            pb::CommittedBlock committed;
            *committed.mutable_block() = o.block;
            *committed.mutable_commit() = o.certificate;
            const std::uint64_t height = o.block.header().height();
            EXPECT_TRUE(verify_commit_certificate(o.certificate, chain, v_.set, height,
                                                  Validators::id(o.block), verifier_));
            committed_[node][height] = committed;
            push(now_ + 1, node, CommitApplied{height, v_.set});
          } else if constexpr (std::is_same_v<T, RequestCommittedBlock>) {
            for (const auto& blocks : committed_) {
              auto it = blocks.find(o.height);
              if (it == blocks.end()) continue;
              ++catch_ups;
              push(now_ + 5, node, CommittedBlockReceived{it->second});
              break;
            }
          } else if constexpr (std::is_same_v<T, EvidenceFound>) {
            ++evidence;
          }
        },
        output);
  }

  std::uint64_t random_;
  Validators v_;
  std::set<std::uint32_t> silent_;
  std::uint64_t lose_every_;
  Bip340Verifier verifier_;
  std::vector<std::unique_ptr<Core>> nodes_;
  std::vector<std::map<std::uint64_t, pb::CommittedBlock>> committed_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::uint64_t sequence_ = 0;
  std::uint64_t now_ = 0;
};

TEST(MiniCluster, FourValidatorsCommitTwentyHeights) {
  MiniCluster cluster(4, {});
  EXPECT_TRUE(cluster.run(20, 60'000));
  cluster.expect_agreement();
  EXPECT_EQ(cluster.evidence, 0u);
}

TEST(MiniCluster, SevenValidatorsWithTwoSilentCommit) {
  MiniCluster cluster(7, {1, 4});
  EXPECT_TRUE(cluster.run(10, 600'000));
  cluster.expect_agreement();
}

TEST(MiniCluster, FourValidatorsOneSilentAndLossyNetworkCommit) {
  MiniCluster cluster(4, {2}, /*lose_every=*/4);
  EXPECT_TRUE(cluster.run(10, 3'600'000));
  cluster.expect_agreement();
}

// A third of all messages lost, n = 4 with one silent validator and n = 7
// with two: every live validator is needed for a quorum.
TEST(MiniCluster, CommitsUnderHeavyLossForManySeeds) {
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    const bool four = seed % 2 == 1;
    std::set<std::uint32_t> silent;
    if (four) {
      silent.insert(static_cast<std::uint32_t>(seed % 4));
    } else {
      silent = {1, 5};
    }
    MiniCluster cluster(four ? 4 : 7, silent, /*lose_every=*/3, seed);
    EXPECT_TRUE(cluster.run(3, 3'600'000)) << "seed " << seed;
    cluster.expect_agreement();
  }
}

}  // namespace
}  // namespace cityledger::consensus::testing
