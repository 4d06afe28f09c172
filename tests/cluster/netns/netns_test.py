#!/usr/bin/env python3
"""Fault injection on real `cityledgerd` processes, each validator in its own
network namespace on a bridge the test creates (netns_fabric.py).

    netns_test.py SCENARIO --bin PATH/cityledgerd --cli PATH/cityledger --base-port P [--workdir DIR]

Exit codes: 0 passed, 1 failed, 77 skipped (not root, or no `ip netns` /
nftables here: the reason is printed; CTest shows the test as skipped, never
as passed).

While a scenario runs, an anchoring client submits one file at a time with
`cityledger anchor --wait` to whichever node answers, and a monitor reads
every node's blocks. The checker then holds the network to its promises:
  - safety: no two nodes ever report different blocks at one height
    (the monitor, throughout, and every block at the end);
  - liveness: once the faults heal, every node commits new blocks within
    HEAL_BOUND_S seconds;
  - durability: every anchor a client was told is committed has a proof on
    every node, and the proof verifies (tests/interop/verify_proof.py, an
    independent verifier) with genesis alone.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "interop"))
import netns_fabric  # noqa: E402
import verify_proof  # noqa: E402
from cluster_harness import Cluster, Node, TestFailure, check, make_testnet, prepare_workdir, report_failure, set_config_value  # noqa: E402


SKIP = 77
START_DEADLINE = 120
PROGRESS_DEADLINE = 90
HEAL_BOUND_S = 30   # after a heal every node commits a new block within this (stated in docs/testing.md)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- network

def add_netns_testnet(cluster, fabric, base_port, count=4):
    """A testnet whose node i listens on fabric.ips[i] inside namespace i."""
    directory = os.path.join(cluster.workdir, "net")
    description = make_testnet(cluster.binary, directory, count, base_port)
    with open(description["genesis"]) as f:
        genesis = json.load(f)
    for i, v in enumerate(genesis["validators"]):
        v["p2p"] = f"{fabric.ips[i]}:{base_port + 10 * i}"
    text = json.dumps(genesis, indent=2) + "\n"
    nodes = []
    for i, entry in enumerate(description["nodes"]):
        with open(os.path.join(entry["home"], "genesis.json"), "w") as f:
            f.write(text)
        config = os.path.join(entry["home"], "config.toml")
        set_config_value(config, "p2p", "listen", f"{fabric.ips[i]}:{base_port + 10 * i}")
        set_config_value(config, "rpc", "listen", f"{fabric.ips[i]}:{base_port + 10 * i + 1}")
        set_config_value(config, "block", "empty_interval_ms", 300)
        node = Node(f"node{i}", entry["home"], f"http://{fabric.ips[i]}:{base_port + 10 * i + 1}",
                    f"{fabric.ips[i]}:{base_port + 10 * i}", os.path.join(cluster.workdir, f"node{i}.log"))
        node.wrapper = fabric.exec_prefix(i)
        nodes.append(node)
    with open(description["genesis"], "w") as f:
        f.write(text)
    cluster.nodes.extend(nodes)
    return nodes, genesis, os.path.join(directory, "keys", "submitter.key")


class Anchorer(threading.Thread):
    """Anchors one new file at a time, with --wait, at whichever running node
    answers first; remembers the content hashes it was told are committed."""

    def __init__(self, cli, key, nodes, workdir):
        super().__init__(daemon=True)
        self.cli, self.key, self.nodes = cli, key, nodes
        self.dir = os.path.join(workdir, "anchors")
        os.makedirs(self.dir, exist_ok=True)
        self.acked = []       # (content hash hex, node name, file)
        self.attempts = 0
        self.failures = {}    # first line of the error -> count
        self.halt = threading.Event()
        self.rng = random.Random(1)

    def run(self):
        n = 0
        while not self.halt.is_set():
            n += 1
            path = os.path.join(self.dir, f"reading-{n:05d}.csv")
            data = f"sensor,{n},{time.time()}\n".encode()
            with open(path, "wb") as f:
                f.write(data)
            digest = hashlib.sha256(data).hexdigest()
            order = [node for node in self.nodes if node.running()]
            self.rng.shuffle(order)
            for node in order:
                if self.halt.is_set():
                    break
                self.attempts += 1
                try:
                    r = subprocess.run([self.cli, "--rpc", node.rpc_url, "anchor", "--key", self.key, "--wait",
                                        "--timeout", "15", path], capture_output=True, text=True, timeout=25)
                except subprocess.TimeoutExpired:
                    self.failures["client timeout"] = self.failures.get("client timeout", 0) + 1
                    continue
                if r.returncode == 0:
                    self.acked.append((digest, node.name, path))
                    break
                why = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1][:120]
                self.failures[why] = self.failures.get(why, 0) + 1
            self.halt.wait(0.05)

    def stop(self):
        self.halt.set()
        self.join(timeout=60)


class SafetyMonitor(threading.Thread):
    """Reads every node's blocks while the scenario runs; any two different
    hashes at one height are a safety violation."""

    def __init__(self, cluster, nodes):
        super().__init__(daemon=True)
        self.cluster, self.nodes = cluster, nodes
        self.seen = {}        # height -> (hash, node name)
        self.next = {n.name: 1 for n in nodes}
        self.violations = []
        self.halt = threading.Event()

    def poll(self):
        for node in self.nodes:
            if not node.running():
                continue
            try:
                top = self.cluster.rpc(node, "status", timeout=2)["height"]
                for h in range(self.next[node.name], min(top, self.next[node.name] + 50) + 1):
                    block_hash = self.cluster.rpc(node, "get_block", {"height": h}, timeout=2)["hash"]
                    first = self.seen.setdefault(h, (block_hash, node.name))
                    if first[0] != block_hash:
                        self.violations.append(f"height {h}: {first[1]} has {first[0][:16]}, "
                                               f"{node.name} has {block_hash[:16]}")
                    self.next[node.name] = h + 1
            except Exception:  # unreachable (partitioned, paused, down): try again later
                continue

    def run(self):
        while not self.halt.is_set():
            self.poll()
            self.halt.wait(0.3)

    def stop(self):
        self.halt.set()
        self.join(timeout=60)
        self.poll()


def wait_progress(cluster, nodes, more, deadline, what):
    start = {n.name: cluster.height(n) for n in nodes}
    base = max(h for h in start.values() if h is not None)
    cluster.wait_heights(nodes, base + more, deadline)
    log(f"{what}: {[n.name for n in nodes]} committed {more} more blocks (from {base})")


def check_after_heal(cluster, nodes, anchorer, monitor, genesis, healed_at):
    """Liveness within the bound, then safety and durability."""
    top = max(h for h in cluster.heights(nodes).values() if h is not None)
    cluster.wait_heights(nodes, top + 1, HEAL_BOUND_S + 5)
    took = time.monotonic() - healed_at
    check(took <= HEAL_BOUND_S, f"a new block on every node took {took:.1f} s after the heal (bound {HEAL_BOUND_S})")
    log(f"every node committed a new block {took:.1f} s after the faults healed (bound {HEAL_BOUND_S} s)")
    anchorer.stop()
    log(f"anchoring stopped: {len(anchorer.acked)} acknowledged")
    # The last acknowledged anchors need a final checkpoint: two more heights.
    top = max(h for h in cluster.heights(nodes).values() if h is not None)
    cluster.wait_heights(nodes, top + 2, PROGRESS_DEADLINE)
    monitor.stop()
    check(not monitor.violations, "SAFETY VIOLATION: " + "; ".join(monitor.violations[:5]))
    common = min(cluster.heights(nodes).values())
    cluster.check_same_blocks(nodes, common)
    log(f"checking {len(anchorer.acked)} proofs on {len(nodes)} nodes")
    check(anchorer.acked, f"no anchor was acknowledged ({anchorer.attempts} attempts: {anchorer.failures})")
    started = time.monotonic()
    lost = verify_anchors(cluster, nodes, anchorer, genesis)
    check(not lost, f"LOST: {len(lost)} acknowledged anchors without a verifying proof: {lost[:3]}")
    log(f"{len(anchorer.acked) * len(nodes)} bundles verified with their files in {time.monotonic() - started:.1f} s")
    log(f"safety: blocks 1..{common} identical on all nodes, no conflict seen while running "
        f"({len(monitor.seen)} heights watched); durability: all {len(anchorer.acked)} acknowledged anchors "
        f"proved on all {len(nodes)} nodes ({anchorer.attempts} attempts, refusals {anchorer.failures or 'none'})")


def verify_anchors(cluster, nodes, anchorer, genesis):
    """Each node's proof of each acknowledged anchor, verified offline with the
    file and genesis alone by `cityledger verify`; the first one also by the
    independent Python verifier (tests/interop). Returns the problems: one
    line per anchor that some node cannot prove (an anchor lost)."""
    genesis_path = ctx_genesis_path(nodes)
    proofs = os.path.join(os.path.dirname(anchorer.dir), "proofs")
    os.makedirs(proofs, exist_ok=True)
    lost = []
    for k, (digest, via, path) in enumerate(anchorer.acked):
        for node in nodes:
            try:
                bundle = cluster.rpc(node, "get_inclusion_proof", {"content_hash": digest}, timeout=10)
            except Exception as e:
                lost.append(f"{digest[:16]} (acknowledged by {via}) has no proof on {node.name}: {e}")
                break
            proof = os.path.join(proofs, f"{digest[:16]}-{node.name}.json")
            with open(proof, "w") as f:
                json.dump(bundle, f)
            r = subprocess.run([anchorer.cli, "verify", "--genesis", genesis_path, "--proof", proof, "--file", path],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                lost.append(f"the proof of {digest[:16]} from {node.name} does not verify: "
                            f"{r.stdout[-300:]}{r.stderr[-300:]}")
                break
            if k == 0 and node is nodes[0]:
                with open(path, "rb") as f:
                    problems = verify_proof.verify(genesis, bundle, f.read())
                if problems:
                    lost.append(f"the independent verifier refuses {digest[:16]}: {problems}")
    return lost


def fill_disk(path):
    """Writes zeros to `path` until the file system says it is full. If even
    creating the file fails, the disk is full already (a node just restarted
    on it can fill it itself: RocksDB preallocates its new WAL), which is the
    fault wanted: the node's next new file (sign_state.tmp, a kept block)
    fails the same way."""
    try:
        f = open(path, "wb")
    except OSError as e:
        log(f"{os.path.dirname(path)} is full already ({e.strerror})")
        return
    with f:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass


def ctx_genesis_path(nodes):
    """Genesis as the auditor has it: the file every home holds."""
    return os.path.join(nodes[0].home, "genesis.json")


def stalled(cluster, nodes, seconds):
    """Heights do not move for `seconds` (after a short grace for blocks in flight)."""
    time.sleep(1.5)
    before = cluster.heights(nodes)
    time.sleep(seconds)
    after = cluster.heights(nodes)
    return before == after, before, after


# ---------------------------------------------------------------- scenarios

def scenario_partition_minority(ctx):
    """One validator cut off: the other three keep committing; healed, it catches up."""
    cluster, fabric, nodes = ctx["cluster"], ctx["fabric"], ctx["nodes"]
    fabric.partition([[0, 1, 2], [3]])
    log("partitioned {node3} from {node0, node1, node2}")
    wait_progress(cluster, nodes[:3], 5, PROGRESS_DEADLINE, "majority side")
    fabric.heal()
    return time.monotonic()


def scenario_partition_majority(ctx):
    """2 | 2: no side has 3 of 4 votes, so nothing commits (and nothing forks);
    healed, commits resume within the bound."""
    cluster, fabric, nodes = ctx["cluster"], ctx["fabric"], ctx["nodes"]
    fabric.partition([[0, 1], [2, 3]])
    log("partitioned {node0, node1} | {node2, node3}")
    still, before, after = stalled(cluster, nodes, 5)
    check(still, f"a side without a quorum committed: {before} -> {after}")
    log(f"no commits for 5 s on either side: {after}")
    fabric.heal()
    return time.monotonic()


def scenario_loss(ctx):
    """20% of every node's packets to its peers dropped: commits continue."""
    cluster, fabric, nodes = ctx["cluster"], ctx["fabric"], ctx["nodes"]
    fabric.loss(20)
    log("20% packet loss on every node")
    wait_progress(cluster, nodes, 5, PROGRESS_DEADLINE, "under 20% loss")
    fabric.heal()
    return time.monotonic()


def scenario_kill_restart(ctx):
    """SIGKILL a validator at random moments under load (mid-commit, some of
    them), restart it each time."""
    cluster, nodes = ctx["cluster"], ctx["nodes"]
    rng = random.Random(11)
    for round_ in range(4):
        victim = nodes[rng.randrange(4)]
        time.sleep(rng.uniform(0.2, 1.5))
        cluster.kill(victim)
        log(f"SIGKILL {victim.name} (round {round_ + 1})")
        others = [n for n in nodes if n is not victim]
        wait_progress(cluster, others, 2, PROGRESS_DEADLINE, "the other three")
        cluster.start(victim)
    return time.monotonic()


def scenario_pause(ctx):
    """SIGSTOP a validator for 6 s (a hung host), then SIGCONT."""
    cluster, nodes = ctx["cluster"], ctx["nodes"]
    victim = nodes[2]
    os.kill(victim.proc.pid, 19)  # SIGSTOP
    log(f"SIGSTOP {victim.name}")
    wait_progress(cluster, [n for n in nodes if n is not victim], 3, PROGRESS_DEADLINE, "the other three")
    time.sleep(3)
    os.kill(victim.proc.pid, 18)  # SIGCONT
    log(f"SIGCONT {victim.name}")
    return time.monotonic()


def scenario_full_disk(ctx):
    """node3's data directory is a small tmpfs: filled up, node3 stops with a
    clear error and loses nothing; given room again and restarted, it catches up."""
    cluster, nodes, mount = ctx["cluster"], ctx["nodes"], ctx["tmpfs"]
    victim = nodes[3]
    victim.expected_exit = True  # it must stop; checked below
    filler = os.path.join(mount, "filler")
    fill_disk(filler)
    log(f"filled {mount} ({(os.path.getsize(filler) if os.path.exists(filler) else 0) >> 20} MiB of filler)")
    cluster.wait_until(f"{victim.name} stops on the full disk", lambda: not victim.running(), PROGRESS_DEADLINE)
    code = victim.proc.returncode
    text = cluster.log_text(victim)
    check(code != 0, f"{victim.name} exited with 0 on a full disk")
    check("No space left on device" in text or "no space" in text.lower(),
          f"{victim.name}'s log does not say the disk is full:\n{text[-2000:]}")
    reason = next((line for line in text.splitlines() if "stopping the node" in line),
                  next(line for line in text.splitlines() if "space" in line.lower()))
    log(f"{victim.name} stopped (exit {code}): {reason.strip()[:200]}")
    wait_progress(cluster, nodes[:3], 3, PROGRESS_DEADLINE, "the other three")
    if os.path.exists(filler):
        os.remove(filler)
    cluster.start(victim)
    log(f"room again; restarted {victim.name}")
    return time.monotonic()


def mean_height_seconds(cluster, node, seconds):
    """Mean of cityledger_height_duration_seconds over the next `seconds`."""
    def read():
        text = urllib.request.urlopen(node.rpc_url + "/metrics", timeout=10).read().decode()
        values = {}
        for line in text.splitlines():
            for name in ("cityledger_height_duration_seconds_sum", "cityledger_height_duration_seconds_count"):
                if line.startswith(name + " "):
                    values[name] = float(line.split()[1])
        return values["cityledger_height_duration_seconds_sum"], values["cityledger_height_duration_seconds_count"]
    s0, c0 = read()
    time.sleep(seconds)
    s1, c1 = read()
    check(c1 > c0, f"{node.name} committed nothing in {seconds} s")
    return (s1 - s0) / (c1 - c0)


def scenario_delay(ctx):
    """100 ms ± 50 ms on every peer connection, each way: commits continue,
    each height takes longer (at least three message hops of >= 50 ms)."""
    cluster, fabric, nodes = ctx["cluster"], ctx["fabric"], ctx["nodes"]
    before = mean_height_seconds(cluster, nodes[0], 4)
    fabric.delay(100, 50)
    log("100 ms ± 50 ms latency on every peer connection")
    wait_progress(cluster, nodes, 3, PROGRESS_DEADLINE, "with latency")
    during = mean_height_seconds(cluster, nodes[0], 6)
    log(f"mean height time {before * 1000:.0f} ms before, {during * 1000:.0f} ms with the latency")
    check(during >= before + 0.1, "the injected latency did not slow consensus down: is the relay in the path?")
    fabric.heal()
    return time.monotonic()


SCENARIOS = {
    "delay": scenario_delay,
    "partition_minority": scenario_partition_minority,
    "partition_majority": scenario_partition_majority,
    "loss": scenario_loss,
    "kill_restart": scenario_kill_restart,
    "pause": scenario_pause,
    "full_disk": scenario_full_disk,
}


def run_scenario(name, binary, cli, base_port, workdir):
    ok, why = netns_fabric.usable()
    if not ok:
        print(f"SKIPPED: netns scenario {name}: {why}", flush=True)
        return SKIP
    fabric = netns_fabric.Fabric(base_port, 4)
    mount = None
    with Cluster(binary, workdir) as cluster:
        try:
            fabric.create()
            nodes, genesis, key = add_netns_testnet(cluster, fabric, base_port)
            ctx = {"cluster": cluster, "fabric": fabric, "nodes": nodes}
            if name == "full_disk":
                mount = os.path.join(nodes[3].home, "data")
                os.makedirs(mount, exist_ok=True)
                netns_fabric.run("mount", "-t", "tmpfs", "-o", "size=96m", "cl-full-disk", mount)
                ctx["tmpfs"] = mount
            if name == "delay":
                fabric.start_delay([base_port + 10 * i for i in range(4)], os.path.join(workdir, "delay.json"))
            for node in nodes:
                cluster.start(node)
            cluster.wait_heights(nodes, 2, START_DEADLINE)
            log(f"4 validators in namespaces {fabric.namespaces[0]}..{fabric.namespaces[-1]} "
                f"on {fabric.subnet}.0/24 at height >= 2")
            monitor = SafetyMonitor(cluster, nodes)
            monitor.start()
            anchorer = Anchorer(cli, key, nodes, workdir)
            anchorer.start()
            time.sleep(1)
            healed_at = SCENARIOS[name](ctx)
            check_after_heal(cluster, nodes, anchorer, monitor, genesis, healed_at)
            cluster.stop_all_checked()
        except Exception as e:
            report_failure(f"{name}", e, cluster, workdir)
            return 1
        finally:
            cluster.close()
            if mount:
                netns_fabric.run("umount", mount, check=False)
            fabric.destroy()
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--bin", required=True)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--base-port", type=int, required=True)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    workdir = prepare_workdir(args.workdir, f"netns_{args.scenario}_")
    log(f"netns scenario {args.scenario}: ports {args.base_port}.., work dir {workdir}")
    started = time.monotonic()
    code = run_scenario(args.scenario, os.path.abspath(args.bin), os.path.abspath(args.cli), args.base_port,
                        workdir)
    if code == 0:
        log(f"PASSED {args.scenario} in {time.monotonic() - started:.1f} s")
        shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
