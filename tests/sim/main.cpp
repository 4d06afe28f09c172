// cityledger_sim: runs the deterministic cluster simulation for one seed or a
// range of seeds (docs/simulation.md).
//
//   cityledger_sim --validators 4 --seed 12345 --trace     replay one seed, printing every step
//   cityledger_sim --validators 7 --seeds 500               seeds 0..499
//   cityledger_sim --validators 4 --part 1 --parts 4        CTest: a quarter of the configuration's seeds
//   cityledger_sim --set-change --seeds 300 --scale-seeds   300 seeds, scaled by CITYLEDGER_SIM_SEEDS / 2000
//   cityledger_sim --disable-locking --expect-violation     succeeds only when a safety violation is found
//   cityledger_sim --bench                                  committed heights per wall-clock second (JSON)
//
// Exit status: 0 all seeds passed (or, with --expect-violation, a violation was
// found), 1 a seed failed (or no violation was found), 2 bad usage.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

#include "cluster.hpp"

namespace {

using cityledger::sim::Cluster;
using cityledger::sim::FailureKind;
using cityledger::sim::Options;
using cityledger::sim::Outcome;
using cityledger::sim::Profile;

constexpr std::uint64_t config_seeds_default = 2000;

std::string replay_command(const std::string& program, const Options& o) {
  std::string out =
      program + " --validators " + std::to_string(o.validators) + " --seed " + std::to_string(o.seed);
  if (o.profile != Profile::chaos)
    out += std::string(" --profile ") + cityledger::sim::profile_name(o.profile);
  if (o.disable_locking) out += " --disable-locking";
  if (o.set_change) out += " --set-change";
  if (o.heights_after_heal != 0) out += " --heights " + std::to_string(o.heights_after_heal);
  return out + " --trace";
}

void print_failure(const std::string& program, const Options& options, const Cluster& cluster,
                   const Outcome& outcome) {
  std::fprintf(stderr, "\nseed %" PRIu64 " (n=%u, profile %s%s) FAILED: %s\n  %s\n", options.seed,
               options.validators, cityledger::sim::profile_name(options.profile),
               options.disable_locking ? ", locking disabled" : "",
               cityledger::sim::failure_name(outcome.failure), outcome.message.c_str());
  std::fprintf(stderr, "scenario:\n%s", cluster.scenario().describe().c_str());
  if (!options.echo_trace) cluster.trace().dump(stderr);
  std::fprintf(stderr, "at simulated time %" PRIu64 "ms after %" PRIu64 " events\n", outcome.sim_time_ms,
               outcome.counters.events);
  std::fprintf(stderr, "replay: %s\n", replay_command(program, options).c_str());
}

void print_outcome(const Options& options, const Outcome& o) {
  const auto& c = o.counters;
  std::printf("seed %" PRIu64 ": %s; simulated %" PRIu64 "ms, %" PRIu64 " events, honest heights %" PRIu64
              "..%" PRIu64 ", max round %" PRIu64 "\n  messages sent %" PRIu64 " delivered %" PRIu64
              " (dropped: partition %" PRIu64 " loss %" PRIu64 " node down %" PRIu64 "; duplicated %" PRIu64
              "), byzantine %" PRIu64 ", evidence %" PRIu64 ", crashes %" PRIu64 " (persists lost %" PRIu64
              "), catch-up blocks %" PRIu64 ", invalid blocks refused %" PRIu64
              ", signatures verified %" PRIu64 " (cache hits %" PRIu64 "), trace digest %016" PRIx64 "\n",
              options.seed, o.ok() ? "ok" : cityledger::sim::failure_name(o.failure), o.sim_time_ms, c.events,
              o.min_honest_height, o.max_honest_height, c.max_round, c.messages_sent, c.messages_delivered,
              c.dropped_partition, c.dropped_loss, c.dropped_node_down, c.duplicated, c.byzantine_messages,
              c.evidence, c.crashes, c.persists_lost, c.catch_up_blocks, c.invalid_blocks_refused,
              c.signature_checks, c.signature_cache_hits, o.trace_digest);
}

int run_bench(Options options, std::uint32_t heights) {
  options.profile = Profile::calm;
  options.heights_after_heal = heights;
  options.max_events = 100'000'000;
  Cluster cluster(options);
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  const Outcome outcome = cluster.run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // CPU time too: on a shared machine the wall clock also measures the neighbours.
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  if (!outcome.ok()) {
    print_failure("cityledger_sim", options, cluster, outcome);
    return 1;
  }
  std::printf(
      "{\"benchmark\": \"sim_committed_heights\", \"validators\": %u, \"profile\": \"calm\", \"seed\": "
      "%" PRIu64 ", \"heights\": %" PRIu64 ", \"events\": %" PRIu64 ", \"simulated_ms\": %" PRIu64
      ", \"wall_seconds\": %.3f, \"heights_per_second\": %.1f, \"cpu_seconds\": %.3f"
      ", \"heights_per_cpu_second\": %.1f, \"events_per_second\": %.0f"
      ", \"signature_checks_per_height\": %.1f, \"signature_cache_hits_per_height\": %.1f}\n",
      options.validators, options.seed, outcome.min_honest_height, outcome.counters.events,
      outcome.sim_time_ms, seconds, static_cast<double>(outcome.min_honest_height) / seconds, cpu_seconds,
      static_cast<double>(outcome.min_honest_height) / cpu_seconds,
      static_cast<double>(outcome.counters.events) / seconds,
      static_cast<double>(outcome.counters.signature_checks) / static_cast<double>(outcome.min_honest_height),
      static_cast<double>(outcome.counters.signature_cache_hits) /
          static_cast<double>(outcome.min_honest_height));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cityledger deterministic cluster simulator (docs/simulation.md)"};
  Options options;
  std::string profile = "chaos";
  std::optional<std::uint64_t> seed;
  std::uint64_t seeds = 0;
  std::uint32_t part = 0;
  std::uint32_t parts = 0;
  std::uint64_t config_seeds = config_seeds_default;
  bool expect_violation = false;
  bool bench = false;
  std::uint32_t bench_heights = 2000;
  bool check_determinism = false;
  bool verbose = false;
  bool keep_going = false;
  bool scale_seeds = false;

  app.add_option("--validators", options.validators, "4 or 7")->check(CLI::IsMember({4, 7}));
  app.add_option("--seed", seed, "the seed to run, or the first of --seeds");
  app.add_option("--seeds", seeds, "run this many seeds, starting at --seed (default 0)");
  app.add_option("--part", part, "with --parts: run part i of the configuration's seeds");
  app.add_option("--parts", parts, "split the configuration's seeds into this many parts");
  app.add_option("--config-seeds", config_seeds,
                 "seeds per configuration for --part/--parts; CITYLEDGER_SIM_SEEDS overrides it");
  app.add_flag("--scale-seeds", scale_seeds,
               "with CITYLEDGER_SIM_SEEDS set, scale --seeds by CITYLEDGER_SIM_SEEDS / --config-seeds "
               "(rounded up), as the --parts runs scale");
  app.add_option("--profile", profile, "chaos (default), calm or lockbreak");
  app.add_flag("--disable-locking", options.disable_locking,
               "honest cores ignore the locking rule (Config::test_disable_locking)");
  app.add_flag("--expect-violation", expect_violation,
               "succeed when a safety violation is found, fail when none is (stops at the first)");
  app.add_flag(
      "--set-change", options.set_change,
      "one more node joins the validator set at height 3 and leaves it at height 9 (docs/simulation.md)");
  app.add_option("--heights", options.heights_after_heal, "heights to commit after the network heals");
  app.add_option("--max-events", options.max_events, "event budget per seed");
  app.add_flag("--trace", options.echo_trace, "print every step of the run");
  app.add_flag("--verbose", verbose, "print a summary line per seed");
  app.add_flag("--keep-going", keep_going, "do not stop at the first failing seed");
  app.add_flag("--bench", bench, "measure committed heights per wall-clock second on a calm network (JSON)");
  app.add_option("--bench-heights", bench_heights, "heights the benchmark commits");
  app.add_flag("--check-determinism", check_determinism, "run every seed twice and compare the traces");
  CLI11_PARSE(app, argc, argv);

  const auto parsed_profile = cityledger::sim::profile_from_name(profile);
  if (!parsed_profile) {
    std::fprintf(stderr, "cityledger_sim: unknown profile '%s'\n", profile.c_str());
    return 2;
  }
  options.profile = *parsed_profile;
  const std::string program = argv[0];

  if (bench) return run_bench(options, bench_heights);

  std::uint64_t first = seed.value_or(0);
  std::uint64_t count = seeds == 0 ? 1 : seeds;
  // CITYLEDGER_SIM_SEEDS (set at run time, e.g. by scripts/test.sh's sanitizer
  // stage) replaces the seeds per configuration of the --parts runs; the runs
  // with --scale-seeds (the set-change tests) shrink or grow by the same ratio.
  std::optional<std::uint64_t> env_config_seeds;
  if (const char* env = std::getenv("CITYLEDGER_SIM_SEEDS"); env != nullptr && *env != '\0') {
    env_config_seeds = std::strtoull(env, nullptr, 10);
  }
  if (scale_seeds && parts == 0 && env_config_seeds && config_seeds > 0) {
    const std::uint64_t scaled = (count * *env_config_seeds + config_seeds - 1) / config_seeds;
    std::printf("CITYLEDGER_SIM_SEEDS=%" PRIu64 " of %" PRIu64 " per configuration: %" PRIu64
                " seeds instead of %" PRIu64 "\n",
                *env_config_seeds, config_seeds, std::max<std::uint64_t>(scaled, 1), count);
    count = std::max<std::uint64_t>(scaled, 1);
  }
  if (parts > 0) {
    if (part >= parts) {
      std::fprintf(stderr, "cityledger_sim: --part must be below --parts\n");
      return 2;
    }
    if (env_config_seeds) config_seeds = *env_config_seeds;
    first = seed.value_or(0) + config_seeds * part / parts;
    count = config_seeds * (part + 1) / parts - config_seeds * part / parts;
  }
  const bool single = count == 1 && !expect_violation;
  if (single) verbose = true;

  const auto start = std::chrono::steady_clock::now();
  std::uint64_t failures = 0;
  std::uint64_t other_failures = 0;  // with --expect-violation: failures that are not safety violations
  std::uint64_t events = 0;
  std::uint64_t heights = 0;
  std::uint64_t max_round = 0;
  std::uint64_t ran = 0;
  for (std::uint64_t s = first; s < first + count; ++s) {
    options.seed = s;
    Cluster cluster(options);
    if (options.echo_trace)
      std::printf("scenario of seed %" PRIu64 ":\n%s", s, cluster.scenario().describe().c_str());
    const Outcome outcome = cluster.run();
    ++ran;
    events += outcome.counters.events;
    heights += outcome.min_honest_height;
    max_round = std::max(max_round, outcome.counters.max_round);
    if (verbose) print_outcome(options, outcome);
    if (check_determinism) {
      Options again = options;
      again.echo_trace = false;
      Cluster second(again);
      const Outcome replay = second.run();
      if (replay.trace_digest != outcome.trace_digest || replay.failure != outcome.failure ||
          replay.counters.events != outcome.counters.events) {
        std::fprintf(stderr,
                     "seed %" PRIu64 " is NOT deterministic: digests %016" PRIx64 " vs %016" PRIx64 "\n", s,
                     outcome.trace_digest, replay.trace_digest);
        return 1;
      }
      continue;  // this mode checks replay only; the sim_n* tests judge the outcomes
    }
    if (expect_violation) {
      if (outcome.failure == FailureKind::safety) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("found the expected safety violation at seed %" PRIu64 " after %" PRIu64
                    " seeds (%.1fs):\n  %s\n  replay: %s\n",
                    s, ran, seconds, outcome.message.c_str(), replay_command(program, options).c_str());
        return 0;
      }
      if (!outcome.ok()) {
        ++other_failures;
        std::fprintf(stderr, "seed %" PRIu64 ": %s (not a safety violation): %s\n", s,
                     cityledger::sim::failure_name(outcome.failure), outcome.message.c_str());
      }
      continue;
    }
    if (!outcome.ok()) {
      ++failures;
      print_failure(program, options, cluster, outcome);
      if (!keep_going) break;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (expect_violation) {
    std::fprintf(stderr,
                 "no safety violation in %" PRIu64 " seeds (%" PRIu64
                 " other failures), %.1fs: the simulator "
                 "did not catch the disabled locking rule\n",
                 ran, other_failures, seconds);
    return 1;
  }
  std::printf("n=%u profile=%s%s seeds %" PRIu64 "..%" PRIu64 ": %" PRIu64 " ran, %" PRIu64
              " failed; %.1fs wall (%.1f ms/seed), %" PRIu64 " events, %" PRIu64
              " heights committed on every honest node, max round %" PRIu64 "\n",
              options.validators, profile.c_str(), options.disable_locking ? " (locking disabled)" : "",
              first, first + count - 1, ran, failures, seconds,
              ran > 0 ? 1000.0 * seconds / static_cast<double>(ran) : 0.0, events, heights, max_round);
  return failures == 0 ? 0 : 1;
}
