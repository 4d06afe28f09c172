#!/usr/bin/env python3
"""Soak test: random fault schedules on a 4-validator network in network
namespaces, with continuous anchoring, for a given number of minutes.

    soak.py --minutes M --bin PATH/cityledgerd --cli PATH/cityledger --base-port P [--seed S] [--json]

Faults (netns_fabric.py, netns_test.py): a minority partition, a majority
partition (2 | 2), packet loss, latency with jitter, SIGKILL and restart, SIGSTOP and SIGCONT, a
full data disk (node 3's data directory is a tmpfs) — one at a time, each
held for 2–8 s, then healed; between faults the network gets a few seconds.
Never more than f = 1 validator is down at once, except in the 2 | 2
partition, which must stall (and must not fork).

At the end it prints a summary (and with --json a last line of JSON):
faults injected by kind, anchors acknowledged, anchors lost (must be 0),
safety violations (must be 0), the longest stall (the longest time without a
new block on any node, faults included) and the longest recovery after a
heal. Exit 0 only if nothing was lost, nothing forked, and every heal was
followed by new blocks on every node within netns_test.HEAL_BOUND_S.
Exit 77 when namespaces cannot be used here (not root, no ip netns/nft).
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import netns_fabric  # noqa: E402
import netns_test as nt  # noqa: E402
from cluster_harness import Cluster, TestFailure, prepare_workdir, report_failure  # noqa: E402

FAULTS = ["partition_minority", "partition_majority", "loss", "delay", "kill", "pause", "full_disk"]


class StallWatch(threading.Thread):
    """The longest time without a new highest block among the nodes."""

    def __init__(self, cluster, nodes):
        super().__init__(daemon=True)
        self.cluster, self.nodes = cluster, nodes
        self.top = 0
        self.since = time.monotonic()
        self.longest = 0.0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            for node in self.nodes:
                if not node.running():
                    continue
                try:
                    s = self.cluster.rpc(node, "status", timeout=1)
                except Exception:
                    continue
                now = time.monotonic()
                if s["height"] > self.top:
                    self.longest = max(self.longest, now - self.since)
                    self.top, self.since = s["height"], now
            self.halt.wait(0.2)

    def stop(self):
        self.halt.set()
        self.join(timeout=10)
        return max(self.longest, time.monotonic() - self.since)


def soak(cluster, fabric, nodes, genesis, key, cli, minutes, rng, mount):
    counts = {k: 0 for k in FAULTS}
    recoveries = []
    anchorer = nt.Anchorer(cli, key, nodes, cluster.workdir)
    monitor = nt.SafetyMonitor(cluster, nodes)
    stalls = StallWatch(cluster, nodes)
    for t in (anchorer, monitor, stalls):
        t.start()
    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline:
        kind = rng.choice(FAULTS)
        hold = rng.uniform(2, 8)
        victim = nodes[3] if kind == "full_disk" else nodes[rng.randrange(4)]  # node 3's data is the tmpfs
        counts[kind] += 1
        nt.log(f"fault {sum(counts.values())}: {kind}" +
               ("" if kind in ("partition_majority", "loss", "delay") else f" on {victim.name}") + f" for {hold:.1f} s")
        if kind == "partition_minority":
            fabric.partition([[n for n in range(4) if nodes[n] is not victim], [nodes.index(victim)]])
            time.sleep(hold)
            fabric.heal()
        elif kind == "partition_majority":
            fabric.partition([[0, 1], [2, 3]] if rng.random() < 0.5 else [[0, 2], [1, 3]])
            time.sleep(hold)
            fabric.heal()
        elif kind == "loss":
            fabric.loss(rng.choice([5, 10, 20, 30]))
            time.sleep(hold)
            fabric.heal()
        elif kind == "delay":
            fabric.delay(rng.choice([20, 50, 100, 200]), rng.choice([0, 10, 50]))
            time.sleep(hold)
            fabric.heal()
        elif kind == "kill":
            cluster.kill(victim)
            time.sleep(hold)
            cluster.start(victim)
        elif kind == "pause":
            os.kill(victim.proc.pid, 19)
            time.sleep(hold)
            os.kill(victim.proc.pid, 18)
        elif kind == "full_disk":
            victim.expected_exit = True
            filler = os.path.join(mount, "filler")
            nt.fill_disk(filler)
            cluster.wait_until(f"{victim.name} stops on the full disk", lambda: not victim.running(),
                               nt.PROGRESS_DEADLINE)
            text = cluster.log_text(victim)
            if "No space left on device" not in text:
                raise TestFailure(f"{victim.name} stopped without saying the disk is full")
            time.sleep(hold)
            if os.path.exists(filler):
                os.remove(filler)
            cluster.start(victim)
        healed = time.monotonic()
        top = max(h for h in cluster.heights(nodes).values() if h is not None)
        cluster.wait_heights(nodes, top + 1, nt.HEAL_BOUND_S + 30)
        took = time.monotonic() - healed
        recoveries.append((took, kind))
        if took > nt.HEAL_BOUND_S:
            raise TestFailure(f"after {kind}, new blocks on every node took {took:.1f} s (bound {nt.HEAL_BOUND_S})")
        time.sleep(rng.uniform(1, 4))
    anchorer.stop()
    top = max(h for h in cluster.heights(nodes).values() if h is not None)
    cluster.wait_heights(nodes, top + 2, nt.PROGRESS_DEADLINE)
    monitor.stop()
    longest_stall = stalls.stop()
    violations = list(monitor.violations)
    common = min(cluster.heights(nodes).values())
    for h in range(1, common + 1):
        hashes = {cluster.block_hash(n, h) for n in nodes}
        if len(hashes) != 1:
            violations.append(f"height {h}: {sorted(hashes)}")
    lost = nt.verify_anchors(cluster, nodes, anchorer, genesis)
    return {
        "minutes": minutes,
        "faults": counts,
        "faults_total": sum(counts.values()),
        "anchors_acknowledged": len(anchorer.acked),
        "anchors_lost": len(lost),
        "safety_violations": len(violations),
        "longest_stall_s": round(longest_stall, 1),
        "longest_recovery_s": round(max((t for t, _ in recoveries), default=0), 1),
        "heights": common,
        "client_refusals": sum(anchorer.failures.values()),
    }, lost, violations


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--base-port", type=int, default=29000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ok, why = netns_fabric.usable()
    if not ok:
        print(f"SKIPPED: soak: {why}", flush=True)
        return 77
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    workdir = prepare_workdir(args.workdir, "soak_")
    nt.log(f"soak for {args.minutes} min, seed {seed}, work dir {workdir}")
    fabric = netns_fabric.Fabric(args.base_port, 4)
    mount = None
    code = 1
    with Cluster(os.path.abspath(args.bin), workdir) as cluster:
        try:
            fabric.create()
            nodes, genesis, key = nt.add_netns_testnet(cluster, fabric, args.base_port)
            mount = os.path.join(nodes[3].home, "data")
            os.makedirs(mount, exist_ok=True)
            netns_fabric.run("mount", "-t", "tmpfs", "-o", "size=96m", "cl-soak-disk", mount)
            fabric.start_delay([args.base_port + 10 * i for i in range(4)], os.path.join(workdir, "delay.json"))
            for node in nodes:
                cluster.start(node)
            cluster.wait_heights(nodes, 2, nt.START_DEADLINE)
            summary, lost, violations = soak(cluster, fabric, nodes, genesis, key, os.path.abspath(args.cli),
                                             args.minutes, rng, mount)
            summary["seed"] = seed
            cluster.stop_all_checked()
            print("\nsoak summary")
            for k, v in summary.items():
                print(f"  {k:22} {v}")
            for line in (lost + violations)[:10]:
                print("  !", line)
            if args.json:
                print(json.dumps(summary, sort_keys=True))
            code = 0 if not lost and not violations else 1
        except Exception as e:
            report_failure(f"soak (seed {seed})", e, cluster, workdir)
        finally:
            cluster.close()
            if mount:
                netns_fabric.run("umount", mount, check=False)
            fabric.destroy()
    if code == 0 and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
