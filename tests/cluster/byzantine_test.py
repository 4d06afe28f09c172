#!/usr/bin/env python3
"""Byzantine cluster test: 4 validators, node3 runs cityledgerd_byzantine.

    byzantine_test.py MODE --bin PATH/cityledgerd --byzantine-bin PATH/cityledgerd_byzantine
                      --cli PATH/cityledger --base-port P [--workdir DIR] [--keep]

MODE is equivocate, invalid-blocks, garbage-frames or all (docs/testing.md,
"Byzantine mode"). With f = 1 of 4 misbehaving, the 3 honest validators must
stay live (they commit new blocks and every file a client anchors through
them gets a proof that verifies offline on every honest node) and safe
(identical block hashes at every height), and must record what node3 did:
equivocation evidence, consensus drops and disconnects by reason in
/metrics, and the reason in their logs.

On failure the reason and the tail of every node's log are printed and the
work directory is kept.
"""

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Cluster, TestFailure, check, prepare_workdir, report_failure  # noqa: E402
import cluster_test  # noqa: E402
from cluster_test import log, run_cli, scrape  # noqa: E402

START_DEADLINE = 180      # honest nodes reaching their first heights
FILES = 8                 # files anchored, one `anchor --wait` each, round-robin over the honest nodes
MIN_BLOCKS = 12           # blocks the honest nodes must commit while node3 misbehaves (3 of its turns)
HARM_DEADLINE = 400       # for node3 to have done every kind of harm of its mode (tens of seconds in Release)

# What node3 logs for each kind of harm (tests/byzantine/cityledgerd_byzantine.cpp), and what an
# honest node logs when it refuses that kind of block.
INVALID = {
    "a wrong log root": "log_size/log_root do not match the log after this block",
    "a wrong previous block hash": "previous_block_hash does not match the chain",
    "a transaction with a bad signature": "signature does not verify",
}
GARBAGE = {
    "random bytes": "decode_not_canonical",
    "an oversized length prefix": "decode_oversized",
    "a zero length prefix": "decode_zero_length",
    "an envelope with an unknown field": "decode_not_canonical",
    "an envelope with a non-minimal varint": "decode_not_canonical",
}


def counter_sum(samples, name, **labels):
    """Sum of `name` over the series whose labels include `labels` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def by_node(cluster, nodes, name, **labels):
    return {n.name: counter_sum(scrape(n)[1], name, **labels) for n in nodes}


def scenario(cluster, mode, byzantine_bin, base_port):
    nodes = cluster.add_testnet("net", 4, base_port)
    honest, byz = nodes[:3], nodes[3]
    byz.binary = byzantine_bin
    byz.extra_args = ["--byzantine", mode]
    net = os.path.join(cluster.workdir, "net")
    genesis = os.path.join(net, "genesis.json")
    submitter = os.path.join(net, "keys", "submitter.key")

    started = time.monotonic()
    for node in nodes:
        cluster.start(node)
    start = cluster.wait_heights(honest, 2, START_DEADLINE)
    log(f"honest nodes at {start}; node3 runs cityledgerd_byzantine --byzantine {mode}")
    first = min(start.values())

    # A client anchors files through the honest nodes, one at a time, each
    # with --wait (acknowledged = the CLI got a final checkpoint covering it),
    # until node3 has done every kind of harm its mode has (its log says so).
    wanted = []
    if mode in ("equivocate", "all"):
        wanted += ["equivocating proposal", "burst of"]
    if mode in ("invalid-blocks", "all"):
        wanted += [f": {kind}" for kind in INVALID]
    if mode in ("garbage-frames", "all"):
        wanted += [f"sending {kind} to" for kind in GARBAGE]
    data = os.path.join(cluster.workdir, "data")
    proofs = os.path.join(cluster.workdir, "proofs")
    os.makedirs(data)
    rng = random.Random(9)
    files = []
    deadline = time.monotonic() + HARM_DEADLINE
    while True:
        missing = [w for w in wanted if w not in cluster.log_text(byz)]
        if len(files) >= FILES and not missing:
            break
        check(time.monotonic() < deadline, f"node3 did not do all of its harm in {HARM_DEADLINE} s: {missing}")
        i = len(files)
        path = os.path.join(data, f"sensor-{i}.csv")
        with open(path, "wb") as f:
            f.write(f"sensor,{i}\n".encode() + bytes(rng.getrandbits(8) for _ in range(3000)))
        node = honest[i % len(honest)]
        began = time.monotonic()
        run_cli("--rpc", node.rpc_url, "anchor", "--key", submitter, "--wait", "--timeout", "240",
                "--proof-dir", proofs, path, expect=0, timeout=300)
        files.append(path)
        log(f"anchored {os.path.basename(path)} through {node.name} in {time.monotonic() - began:.1f} s")
        cluster.check_alive()

    # Liveness: the honest nodes keep committing (node3 had several turns as
    # proposer in between).
    cluster.wait_heights(honest, first + MIN_BLOCKS, 240)
    top = min(h for h in cluster.heights(honest).values())
    log(f"honest nodes at height >= {top}")

    # Every acknowledged anchor has a verifiable proof on every honest node.
    for path in files:
        content = hashlib.sha256(open(path, "rb").read()).hexdigest()
        run_cli("verify", "--genesis", genesis, "--proof",
                os.path.join(proofs, os.path.basename(path) + ".proof.json"), "--file", path, expect=0)
        for node in honest:
            out = os.path.join(cluster.workdir, f"{os.path.basename(path)}.{node.name.replace('/', '_')}.json")
            run_cli("--rpc", node.rpc_url, "proof", "--hash", content, "--out", out, expect=0)
            run_cli("verify", "--genesis", genesis, "--proof", out, "--file", path, expect=0)
    log(f"{len(files)} files: proofs from every honest node verify offline")

    # Safety: the same block at every height on the honest nodes.
    cluster.check_same_blocks(honest, top)
    log(f"block hashes 1..{top} identical on the honest nodes")

    # node3 did misbehave, and the honest nodes saw it and said why.
    byz_log = cluster.log_text(byz)
    logs = "\n".join(cluster.log_text(n) for n in honest)
    # node3 signs its forgeries properly, so what stops them is the rules, not a signature check.
    bad_signature = by_node(cluster, honest, "cityledger_p2p_messages_dropped_total", stage="consensus",
                            reason="bad_signature")
    check(not any(bad_signature.values()), f"node3's forgeries were refused as bad_signature: {bad_signature}")
    if mode in ("equivocate", "all"):
        check("byzantine: equivocating proposal" in byz_log, "node3 never equivocated a proposal")
        evidence = by_node(cluster, honest, "cityledger_equivocation_evidence_total")
        log(f"equivocation evidence: {evidence}")
        check(all(v > 0 for v in evidence.values()), f"an honest node recorded no equivocation: {evidence}")
        answers = [cluster.rpc(n, "get_evidence") for n in honest]
        listed = [len(a["evidence"]) for a in answers]
        check(all(0 < c <= 100 for c in listed), f"get_evidence lists none (or over 100) on an honest node: {listed}")
        check(all(a["count"] >= c for a, c in zip(answers, listed)), f"get_evidence count below its list: {answers}")
        check(all(e["validator_index"] == 3 and e["name"] == "node3" for a in answers for e in a["evidence"]),
              "get_evidence names a validator other than node3")
        check("equivocation: validator 3 signed two different votes" in logs,
              "no honest log names validator 3's equivocation")
        # Each piece of evidence is logged, but at most about one line a second
        # (docs/metrics.md): a validator equivocating in bursts cannot fill the disk.
        elapsed = time.monotonic() - started
        lines = {n.name: cluster.log_text(n).count("equivocation: validator 3") for n in honest}
        log(f"equivocation log lines: {lines} in {elapsed:.0f} s")
        check(all(v >= 64 for v in evidence.values()), f"the bursts were not all recorded: {evidence}")
        check(all(c <= elapsed + 5 for c in lines.values()),
              f"equivocation logged more than once a second: {lines} lines in {elapsed:.0f} s")
        conflicting = by_node(cluster, honest, "cityledger_p2p_messages_dropped_total", stage="consensus",
                              reason="conflicting_proposal")
        log(f"conflicting proposals dropped: {conflicting}")
        check(sum(conflicting.values()) > 0, f"no honest node refused a conflicting proposal: {conflicting}")
    if mode in ("invalid-blocks", "all"):
        check("byzantine: proposing an invalid block" in byz_log, "node3 never proposed an invalid block")
        invalid = by_node(cluster, honest, "cityledger_p2p_messages_dropped_total", stage="consensus",
                          reason="invalid_block")
        log(f"invalid blocks dropped: {invalid}")
        check(all(v > 0 for v in invalid.values()), f"an honest node counted no invalid block: {invalid}")
        for sent, refusal in INVALID.items():
            check(any("refused" in line and refusal in line for line in logs.splitlines()),
                  f"node3 proposed {sent} but no honest log refuses a block with '{refusal}'")
        check("relayed by peer node3 refused: invalid_block" in logs, "no honest log blames node3")
    if mode in ("garbage-frames", "all"):
        check("byzantine: sending" in byz_log, "node3 never sent a garbage frame")
        decode = {}
        for reason in sorted(set(GARBAGE.values())):
            decode[reason] = sum(by_node(cluster, honest, "cityledger_p2p_disconnects_total", reason=reason).values())
        log(f"disconnects of node3 by decode reason: {decode}")
        check(all(v > 0 for v in decode.values()), f"a kind of garbage frame was never refused: {decode}")
        for reason in decode:
            check(any("(node3)" in line and f"disconnected: {reason}" in line for line in logs.splitlines()),
                  f"no honest log says node3 was disconnected for {reason}")

    # Still live after all that, and every node (node3 included) stops cleanly.
    cluster.wait_heights(honest, top + 2, 120)
    cluster.stop_all_checked()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["equivocate", "invalid-blocks", "garbage-frames", "all"])
    parser.add_argument("--bin", required=True, help="path to cityledgerd (the honest nodes)")
    parser.add_argument("--byzantine-bin", required=True, help="path to cityledgerd_byzantine (node3)")
    parser.add_argument("--cli", required=True, help="path to the cityledger CLI")
    parser.add_argument("--base-port", type=int, required=True, help="first of 100 ports this run may use")
    parser.add_argument("--workdir", help="directory for homes and logs (emptied first); default: a temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the work directory after a success")
    args = parser.parse_args()
    cluster_test.CLI_BINARY = os.path.abspath(args.cli)

    workdir = prepare_workdir(args.workdir, f"byzantine_{args.mode}_")
    log(f"byzantine {args.mode}: ports {args.base_port}.., work dir {workdir}")
    started = time.monotonic()
    with Cluster(os.path.abspath(args.bin), workdir) as cluster:
        try:
            scenario(cluster, args.mode, os.path.abspath(args.byzantine_bin), args.base_port)
        except (Exception, subprocess.TimeoutExpired) as e:
            report_failure(f"byzantine {args.mode}", e, cluster, workdir, 60)
            return 1
    log(f"PASSED byzantine {args.mode} in {time.monotonic() - started:.1f} s")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
