#!/usr/bin/env python3
"""Cluster tests: real `cityledgerd` validators on 127.0.0.1.

    cluster_test.py SCENARIO --bin PATH/cityledgerd --base-port P [--workdir DIR] [--keep]

One scenario per run (one CTest test each, see CMakeLists.txt). A scenario
uses ports P .. P+99. Deadlines are generous because the same tests run
against the ASan build, where nodes are several times slower: the tests only
ever assert that something happens *within* a deadline, never how fast.

On failure the reason, a traceback and the tail of every node's log are
printed and the work directory (homes and logs) is kept; on success it is
removed unless --keep is given.
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
import time
import traceback
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import (Cluster, Node, RpcError, TestFailure, check, prepare_workdir, report_failure,  # noqa: E402
                             WebSocket, rpc_call, set_config_value)

# Deadlines (seconds) for things that take well under 10 s in a Release build.
START_DEADLINE = 120      # a fresh network reaching its first heights
PROGRESS_DEADLINE = 90    # a running network committing a few more blocks
CATCH_UP_DEADLINE = 120   # a restarted node reaching the others

CLI_BINARY = None  # --cli
PROMTOOL = None    # --promtool


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def start_network(cluster, nodes, min_height=3):
    for node in nodes:
        cluster.start(node)
    heights = cluster.wait_heights(nodes, min_height, START_DEADLINE)
    log(f"all {len(nodes)} nodes at height >= {min_height}: {heights}")
    return heights


def max_height(cluster, nodes):
    """Highest height among the nodes that answer (fails if none does)."""
    known = [h for h in cluster.heights(nodes).values() if h is not None]
    check(known, f"none of {[n.name for n in nodes]} answers status")
    return max(known)


def start_and_catch_up(cluster, node, others, how):
    """Starts `node`; it must reach the others' height, and every block it
    holds must be identical on all of them."""
    cluster.start(node)
    target = max_height(cluster, others)
    log(f"{how} {node.name}; it must reach {target}")
    cluster.wait_heights([node], target, CATCH_UP_DEADLINE)
    top = cluster.height(node)
    cluster.wait_heights(others, top, PROGRESS_DEADLINE)
    cluster.check_same_blocks([node] + others, top)
    log(f"{node.name} caught up; block hashes 1..{top} identical on all nodes")


# ---------------------------------------------------------------- scenarios

def scenario_commit(cluster, base_port):
    """4 validators reach height >= 3 and agree on every block."""
    nodes = cluster.add_testnet("net", 4, base_port)
    start_network(cluster, nodes)
    cluster.wait_until("every node has 3 peers",
                       lambda: all((cluster.status(n) or {}).get("peers") == 3 for n in nodes),
                       PROGRESS_DEADLINE)
    top = min(cluster.heights(nodes).values())
    cluster.check_same_blocks(nodes, top)
    log(f"block hashes 1..{top} identical on all nodes")
    cluster.stop_all_checked()


def scenario_kill_restart(cluster, base_port):
    """SIGKILL one of 4; the other 3 keep committing; the restarted node
    catches up and holds exactly the others' blocks."""
    nodes = cluster.add_testnet("net", 4, base_port)
    victim, others = nodes[3], nodes[:3]
    start_network(cluster, nodes)

    cluster.kill(victim)
    at_kill = max_height(cluster, others)
    log(f"killed {victim.name}; others at {at_kill}")
    cluster.wait_heights(others, at_kill + 3, PROGRESS_DEADLINE)
    log(f"others committed 3 more blocks without it: {cluster.heights(others)}")

    start_and_catch_up(cluster, victim, others, "restarted")
    cluster.stop_all_checked()


def scenario_late_join(cluster, base_port):
    """A validator that was never started joins a running network from
    genesis: it fetches every block with its certificate, ends with the same
    hashes, and then votes: with another validator down, the network still
    needs it to commit."""
    nodes = cluster.add_testnet("net", 4, base_port)
    newcomer, first = nodes[3], nodes[:3]
    start_network(cluster, first, min_height=6)

    start_and_catch_up(cluster, newcomer, first, "started with an empty store")

    # 3 of 4 are needed: with node0 down, commits go on only if the newcomer votes.
    cluster.kill(first[0])
    remaining = first[1:] + [newcomer]
    at_kill = max_height(cluster, remaining)
    cluster.wait_heights(remaining, at_kill + 3, PROGRESS_DEADLINE)
    log(f"with {first[0].name} down the newcomer's votes keep the network committing: {cluster.heights(remaining)}")
    cluster.stop_all_checked()


def scenario_watch_fork(cluster, base_port):
    """`cityledger watch` catches a rewritten history. Two runs of one
    network (same genesis, same validator keys — as if every validator's key
    were used to sign a second history) anchor different files; a monitor that
    saw the first run's checkpoint must raise the alarm (exit 1) on the
    second's, both for a checkpoint of the same size with another root and for
    a larger one that does not extend it."""
    nodes = cluster.add_testnet("net", 4, base_port)
    net = os.path.join(cluster.workdir, "net")
    fork_dir = os.path.join(cluster.workdir, "fork")
    shutil.copytree(net, fork_dir)  # before any start: empty stores, same keys
    genesis = os.path.join(net, "genesis.json")
    submitter = os.path.join(net, "keys", "submitter.key")
    state = os.path.join(cluster.workdir, "watch.json")
    files = []
    for name in ("a.csv", "b.csv", "c.csv"):
        files.append(os.path.join(cluster.workdir, name))
        with open(files[-1], "w") as f:
            f.write(f"sensor,value\n{name},1\n")

    start_network(cluster, nodes, min_height=2)
    run_cli("--rpc", nodes[0].rpc_url, "anchor", "--key", submitter, "--wait", "--proof-dir",
            os.path.join(cluster.workdir, "proofs"), files[0], expect=0)
    run_cli("watch", "--genesis", genesis, "--state", state, "--once", "--node", nodes[0].rpc_url, expect=0)
    log("the monitor holds a checkpoint of the first history (file a)")
    cluster.stop_all_checked()

    forked = []
    for i, node in enumerate(nodes):
        home = os.path.join(fork_dir, f"node{i}")
        forked.append(Node(f"fork/node{i}", home, node.rpc_url, node.p2p,
                           os.path.join(cluster.workdir, f"fork_node{i}.log")))
    cluster.nodes.extend(forked)
    start_network(cluster, forked, min_height=2)
    run_cli("--rpc", forked[0].rpc_url, "anchor", "--key", submitter, "--wait", "--proof-dir",
            os.path.join(cluster.workdir, "fork-proofs"), files[1], expect=0)
    # Same size (1), another root.
    r = run_cli("watch", "--genesis", genesis, "--state", state, "--once", "--node", forked[0].rpc_url, expect=1)
    check("ALARM" in r.stdout and "different roots" in r.stdout, f"watch did not report the fork: {r.stdout}")
    log("same size, other root: ALARM")

    run_cli("--rpc", forked[0].rpc_url, "anchor", "--key", submitter, "--wait", "--proof-dir",
            os.path.join(cluster.workdir, "fork-proofs"), files[2], expect=0)
    r = run_cli("--json", "watch", "--genesis", genesis, "--state", state, "--once", "--node", forked[0].rpc_url,
                expect=1)
    event = json.loads(r.stdout.strip().splitlines()[-1])
    check(event["event"] == "alarm" and "does not extend" in event["reason"], f"watch output: {r.stdout}")
    log("larger log that does not extend the kept one: ALARM")

    # A monitor that starts on the second history accepts it as it grows.
    fresh = os.path.join(cluster.workdir, "watch-fork.json")
    run_cli("watch", "--genesis", genesis, "--state", fresh, "--once", "--node", forked[1].rpc_url, expect=0)
    cluster.stop_all_checked()


def scenario_agent_crash(cluster, base_port):
    """`cityledger agent` under SIGKILL at random moments: every file version
    it anchored is on the chain exactly once, every file's final version is
    anchored and has a proof that verifies, and the files changed between
    runs are anchored again as new versions."""
    check(CLI_BINARY, "this scenario needs --cli PATH/cityledger")
    nodes = cluster.add_testnet("net", 4, base_port)
    net = os.path.join(cluster.workdir, "net")
    genesis = os.path.join(net, "genesis.json")
    submitter = os.path.join(net, "keys", "submitter.key")
    start_network(cluster, nodes, min_height=2)
    pubkey = run_cli("pubkey", "--key", submitter, expect=0).stdout.strip()

    watch = os.path.join(cluster.workdir, "watch")
    proofs = os.path.join(cluster.workdir, "proofs")
    rng = random.Random(11)
    contents = {}  # path relative to watch -> its current content

    def write(rel, text):
        path = os.path.join(watch, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        contents[rel] = text

    for i in range(120):
        write(f"{['traffic', 'air', 'port'][i % 3]}/day{i // 3:02d}/f{i:03d}.csv", f"file {i}\nvalue,{rng.random()}\n")
    agent_args = [CLI_BINARY, "--rpc", nodes[0].rpc_url, "agent", "--key", submitter, "--watch", watch,
                  "--interval", "200ms", "--max-batch", "15", "--proof-dir", proofs]
    log_path = os.path.join(cluster.workdir, "agent.log")
    kills = 0
    with open(log_path, "ab") as agent_log:
        for round_ in range(12):
            proc = subprocess.Popen(agent_args, stdout=agent_log, stderr=agent_log)
            time.sleep(rng.uniform(0.05, 1.5))
            proc.kill()
            proc.wait()
            kills += 1
            # Between runs: new files, and changed files (new versions).
            if round_ % 3 == 1:
                for i in rng.sample(range(120), 5):
                    rel = next(r for r in contents if r.endswith(f"f{i:03d}.csv"))
                    write(rel, contents[rel] + f"appended in round {round_}\n")
                write(f"late/r{round_:02d}.csv", f"late file of round {round_}\n")
        # Its node goes away: the agent retries with backoff, says so in its
        # status file, and finishes once the node is back.
        write("late/while-node-down.csv", "written while the agent's node was down\n")
        cluster.stop(nodes[0])
        proc = subprocess.Popen(agent_args + ["--once"], stdout=agent_log, stderr=agent_log)
        status_file = os.path.join(watch, ".cityledger-agent.journal.status.json")

        def reports_retrying():
            try:
                with open(status_file) as f:
                    st = json.load(f)
            except (OSError, ValueError):
                return False
            return st if st.get("state") == "retrying" and st.get("errors", 0) > 0 else False
        st = cluster.wait_until("the agent's status file reports retrying", reports_retrying, PROGRESS_DEADLINE)
        check(proc.poll() is None, "the agent gave up while its node was down")
        log(f"node down: the agent retries ({st['last_error']})")
        cluster.start(nodes[0])
        code = proc.wait(timeout=600)
    check(code == 0, f"the final agent run failed ({code}); see {log_path}")
    with open(status_file) as f:
        check(json.load(f)["state"] == "stopped", "status file does not say stopped")
    log(f"agent killed {kills} times, its node stopped once, then it ran to completion")

    # Every version the agent anchored is on the chain once; every final version is there.
    on_chain = {}  # content hash -> entries by the agent's key
    height = cluster.status(nodes[1])["height"]
    for h in range(1, height + 1):
        for tx_hash in cluster.rpc(nodes[1], "get_block", {"height": h})["txs"]:
            body = cluster.rpc(nodes[1], "get_tx", {"hash": tx_hash})["body"]
            if body["signer"] != pubkey:
                continue
            for e in body.get("entries", []):
                on_chain[e["content_hash"]] = on_chain.get(e["content_hash"], 0) + 1
    dupes = {h: n for h, n in on_chain.items() if n != 1}
    check(not dupes, f"content anchored more than once: {dupes}")
    for rel, text in contents.items():
        sha = hashlib.sha256(text.encode()).hexdigest()
        check(sha in on_chain, f"{rel}: its final version was never anchored")
        entries = [e for e in cluster.rpc(nodes[1], "get_entry", {"content_hash": sha})["entries"]
                   if e["submitter"] == pubkey]
        check(len(entries) == 1, f"{rel} (final version) anchored {len(entries)} times")
    log(f"{len(contents)} files, {sum(on_chain.values())} entries on the chain "
        f"({len(on_chain) - len(contents)} older versions), none twice")

    # A proof per file, for its final version, that verifies offline.
    for rel, text in contents.items():
        proof = os.path.join(proofs, rel + ".proof.json")
        check(os.path.exists(proof), f"no proof for {rel}")
        run_cli("verify", "--genesis", genesis, "--proof", proof, "--file", os.path.join(watch, rel), expect=0)
    log("every file has a proof of its final version that verifies")
    cluster.stop_all_checked()


def scenario_unpinned_peer(cluster, base_port):
    """A node whose TLS key is not in genesis is refused by every validator.

    The stranger is the home of a second, one-validator testnet (its own
    validator and TLS keys) given the first network's genesis.json: it then
    dials the four validators, accepts their pinned certificates, and presents
    a certificate whose key no validator has pinned. Its validator key is not
    in that genesis either, so on its own side it would only follow the chain.
    """
    nodes = cluster.add_testnet("net", 4, base_port)
    stranger = cluster.add_testnet("stranger", 1, base_port + 50)[0]
    shutil.copyfile(os.path.join(cluster.workdir, "net", "genesis.json"),
                    os.path.join(stranger.home, "genesis.json"))
    start_network(cluster, nodes, min_height=2)
    cluster.wait_until("every validator has 3 peers",
                       lambda: all((cluster.status(n) or {}).get("peers") == 3 for n in nodes),
                       PROGRESS_DEADLINE)

    cluster.start(stranger)
    pin = cluster.wait_until(f"{stranger.name} logs its TLS pin",
                             lambda: _tls_pin_in_log(cluster.log_text(stranger)), START_DEADLINE)
    log(f"started {stranger.name} (TLS pin {pin})")
    refusal = f"certificate key pin {pin} is not pinned in genesis"
    after_start = max_height(cluster, nodes)

    # Every validator refuses it (it dials all four), and says why.
    def refused_by_all():
        return all(refusal in cluster.log_text(n) for n in nodes)
    cluster.wait_until(f"every validator logs '{refusal}'", refused_by_all, PROGRESS_DEADLINE)
    log("every validator logged the refusal")

    # Meanwhile and afterwards: no validator counts it as a peer, the stranger
    # has no peer and no block, and the network keeps committing.
    def committed_three_more():
        statuses = [cluster.status(n) for n in nodes]
        for n, s in zip(nodes, statuses):
            check(s is None or s["peers"] <= 3, f"{n.name} counts {s and s['peers']} peers (max 3)")
        return all(s is not None and s["height"] >= after_start + 3 for s in statuses)
    cluster.wait_until(f"height >= {after_start + 3} on all validators", committed_three_more,
                       PROGRESS_DEADLINE)
    peers = {n.name: cluster.status(n)["peers"] for n in nodes}
    check(all(p == 3 for p in peers.values()), f"validators' peer counts: {peers}")
    s = cluster.status(stranger)
    check(s is not None, f"{stranger.name} does not answer status")
    check(s["peers"] == 0 and s["height"] == 0,
          f"{stranger.name} got through: peers {s['peers']}, height {s['height']}")
    log(f"validators' peers {peers}; stranger peers 0, height 0")
    cluster.stop_all_checked()


def _tls_pin_in_log(text):
    marker = "(TLS pin "
    at = text.find(marker)
    if at < 0:
        return None
    end = text.find(")", at)
    return text[at + len(marker):end] if end > 0 else None


def scenario_quorum_loss(cluster, base_port):
    """With 2 of 4 validators stopped nothing commits; restarting one of them
    (3 of 4 = a quorum again) resumes commits."""
    nodes = cluster.add_testnet("net", 4, base_port)
    alive, stopped = nodes[:2], nodes[2:]
    start_network(cluster, nodes)

    for node in stopped:
        cluster.kill(node)
    log(f"killed {[n.name for n in stopped]}")
    time.sleep(3)  # a block already in flight may still commit (slow under ASan)
    baseline = max_height(cluster, alive)
    log(f"baseline after settling: {cluster.heights(alive)}")
    for _ in range(10):  # 5 s
        time.sleep(0.5)
        cluster.check_alive()
        now = max_height(cluster, alive)
        check(now == baseline, f"height moved from {baseline} to {now} without a quorum")
    log(f"no commit for 5 s without a quorum (height {baseline})")

    back = stopped[0]
    cluster.start(back)
    log(f"restarted {back.name}")
    quorum = alive + [back]
    cluster.wait_heights(quorum, baseline + 2, CATCH_UP_DEADLINE)
    top = min(cluster.heights(quorum).values())
    cluster.check_same_blocks(quorum, top)
    log(f"commits resumed: {cluster.heights(quorum)}; blocks 1..{top} identical")
    cluster.stop_all_checked()


def run_cli(*args, expect=None, timeout=180):
    """Runs the cityledger CLI; checks its exit code when `expect` is given."""
    check(CLI_BINARY, "this scenario needs --cli PATH/cityledger")
    result = subprocess.run([CLI_BINARY, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if expect is not None:
        check(result.returncode == expect,
              f"cityledger {' '.join(map(str, args))}: exit {result.returncode}, expected {expect}\n"
              f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}")
    return result


def run_interop(genesis, bundle, file=None, expect=0):
    """The independent Python verifier (tests/interop/verify_proof.py)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "verify_proof.py")
    args = [sys.executable, script, genesis, bundle] + ([file] if file else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    check(result.returncode == expect,
          f"verify_proof.py {bundle}: exit {result.returncode}, expected {expect}: {result.stdout}{result.stderr}")


def scenario_cli(cluster, base_port):
    """The auditor's CLI end to end: anchor files with --wait --proof-dir,
    verify each proof offline (and refuse wrong files and altered bundles),
    fetch a proof by hash, watch, exit codes, and checkpoints that survive a
    node restart."""
    nodes = cluster.add_testnet("net", 4, base_port)
    net = os.path.join(cluster.workdir, "net")
    genesis = os.path.join(net, "genesis.json")
    submitter = os.path.join(net, "keys", "submitter.key")
    rpc0 = nodes[0].rpc_url
    start_network(cluster, nodes, min_height=2)

    data = os.path.join(cluster.workdir, "data")
    os.makedirs(os.path.join(data, "sub"))
    files = []
    rng = random.Random(7)
    for name, size in [("traffic.csv", 2_000), ("air.jsonl", 50_000), ("big.bin", 3_000_000), ("empty.csv", 0)]:
        path = os.path.join(data, name)
        with open(path, "wb") as f:
            f.write(bytes(rng.getrandbits(8) for _ in range(min(size, 4096))) * (size // 4096 + 1))
            f.truncate(size)
        files.append(path)

    # Two inputs with one file name would write one proof twice: refused
    # before anything is submitted.
    twin = os.path.join(data, "sub", "traffic.csv")
    shutil.copy(files[0], twin)
    proofs = os.path.join(cluster.workdir, "proofs")
    r = run_cli("--rpc", rpc0, "anchor", "--key", submitter, "--wait", "--proof-dir", proofs,
                files[0], twin, expect=2)
    check("two files are named traffic.csv" in r.stderr, f"unclear refusal: {r.stderr}")

    # A key that is no account on the chain is refused with the reason.
    stranger = os.path.join(cluster.workdir, "stranger.key")
    run_cli("keygen", "--out", stranger, expect=0)
    r = run_cli("--rpc", rpc0, "anchor", "--key", stranger, files[0], expect=2)
    check("not an account" in r.stderr, f"unclear refusal of an unknown signer: {r.stderr}")

    # Anchor, wait, write proofs. --batch 2 makes two transactions.
    r = run_cli("--rpc", rpc0, "--json", "anchor", "--key", submitter, "--dataset", "cluster-test",
                "--meta", "source=cluster_test", "--batch", "2", "--wait", "--proof-dir", proofs, *files,
                expect=0)
    out = json.loads(r.stdout)
    check(len(out["txs"]) == 2 and len(out["entries"]) == 4, f"unexpected anchor output: {out}")
    leaves = sorted(e["leaf_index"] for e in out["entries"])
    check(leaves == list(range(leaves[0], leaves[0] + 4)), f"leaf indexes not consecutive: {leaves}")
    log(f"anchored 4 files in 2 transactions, leaves {leaves}")

    # submit_txs, the bulk path `anchor` uses: each element judged alone.
    committed = rpc_call(rpc0, "get_tx", {"hash": out["txs"][0]})
    tampered = bytearray.fromhex(committed["tx"])
    tampered[-1] ^= 0x01  # inside the signature
    bulk = rpc_call(rpc0, "submit_txs", {"txs": [committed["tx"], "zz", tampered.hex(), 7, "0a"]})
    results = bulk["results"]
    check(len(results) == 5 and bulk["accepted"] == 1 and bulk["refused"] == 4, f"submit_txs: {bulk}")
    check(results[0].get("tx_hash") == out["txs"][0] and results[0].get("height") == committed["height"],
          f"a committed transaction resubmitted in bulk: {results[0]}")
    check(results[1]["error"]["code"] == "invalid_argument" and "hex" in results[1]["error"]["message"],
          f"bad hex: {results[1]}")
    check("error" in results[2] and results[2]["tx_hash"] != out["txs"][0], f"a tampered copy: {results[2]}")
    check(results[3]["error"]["code"] == "invalid_argument", f"a number: {results[3]}")
    check(results[4]["error"]["code"] == "invalid_argument", f"a truncated transaction: {results[4]}")
    for params in ({"txs": []}, {"txs": ["00"] * 1001}, {"txs": "0a"}, {}):
        try:
            rpc_call(rpc0, "submit_txs", params)
            check(False, f"submit_txs accepted {str(params)[:40]}")
        except RpcError as e:
            check(e.error["code"] == -32602, f"submit_txs {str(params)[:40]}: {e.error}")
    log("submit_txs answers each transaction alone and refuses bad calls")

    for entry, path in zip(out["entries"], files):
        check(entry["file"] == path, f"entries out of order: {out['entries']}")
        proof = os.path.join(proofs, os.path.basename(path) + ".proof.json")
        check(entry["proof"] == proof and os.path.exists(proof), f"no proof file {proof}")
        r = run_cli("--json", "verify", "--genesis", genesis, "--proof", proof, "--file", path, expect=0)
        verdict = json.loads(r.stdout)
        check(verdict["verified"] and verdict["leaf_index"] == entry["leaf_index"], f"verdict: {verdict}")
        with open(proof) as f:
            bundle = json.load(f)
        check(bundle["entry"]["dataset_id"] == "cluster-test" and
              bundle["entry"]["metadata"].get("source") == "cluster_test" and
              bundle["entry"]["metadata"].get("name") == os.path.basename(path),
              f"entry fields: {bundle['entry']}")
    log("every proof verifies offline with its file")

    # A wrong file, a missing genesis, altered bundles.
    proof0 = os.path.join(proofs, "traffic.csv.proof.json")
    r = run_cli("verify", "--genesis", genesis, "--proof", proof0, "--file", files[1], expect=1)
    check(r.stdout.startswith("FAILED"), f"wrong file not reported as FAILED: {r.stdout}")
    run_cli("verify", "--genesis", os.path.join(net, "missing.json"), "--proof", proof0, expect=2)
    with open(proof0, "rb") as f:
        original = f.read()
    altered = os.path.join(cluster.workdir, "altered.proof.json")
    positions = sorted(set(range(0, len(original), max(1, len(original) // 60))))
    for i in positions:
        bad = bytearray(original)
        bad[i] ^= 0x01
        with open(altered, "wb") as f:
            f.write(bad)
        r = run_cli("verify", "--genesis", genesis, "--proof", altered, "--file", files[0])
        check(r.returncode == 1 and r.stdout.startswith("FAILED"),
              f"a bundle with byte {i} changed ({original[i:i+1]!r}) gave exit {r.returncode}: {r.stdout}")
    log(f"{len(positions)} single-byte changes of a bundle all rejected")

    # proof by content hash gives a bundle that verifies.
    sha = run_cli("hash", files[2], expect=0).stdout.split()[0]
    fetched = os.path.join(cluster.workdir, "fetched.proof.json")
    run_cli("--rpc", rpc0, "proof", "--hash", sha, "--out", fetched, expect=0)
    run_cli("verify", "--genesis", genesis, "--proof", fetched, "--file", files[2], expect=0)

    # Record-level proofs: anchor a CSV's lines as a record set, prove single
    # lines, verify them with the line only (no file needed).
    csv = os.path.join(data, "readings.csv")
    rows = ["time,station,no2"] + [f"2026-11-29T10:{m:02d},AQ-{m % 7},{(m * 37) % 90}" for m in range(1, 58)]
    with open(csv, "w", newline="") as f:
        f.write("\r\n".join(rows) + "\r\n")
    r = run_cli("--rpc", rpc0, "--json", "anchor", "--key", submitter, "--records", "--wait", "--proof-dir", proofs,
                csv, expect=0)
    record_set = os.path.join(proofs, "readings.csv.proof.json")
    with open(record_set) as f:
        entry = json.load(f)["entry"]
    check(entry["kind"] == "record-set" and entry["metadata"]["records"] == str(len(rows)),
          f"record-set entry: {entry}")
    run_cli("verify", "--genesis", genesis, "--proof", record_set, "--file", csv, expect=0)
    for line in (1, 2, len(rows)):
        one = os.path.join(cluster.workdir, f"line{line}.proof.json")
        run_cli("prove-record", "--proof", record_set, "--records", csv, "--line", line, "--out", one, expect=0)
        r = run_cli("--json", "verify", "--genesis", genesis, "--proof", one, "--record-line", rows[line - 1],
                    expect=0)
        check(json.loads(r.stdout)["record"]["line"] == line, f"record verdict: {r.stdout}")
        run_cli("verify", "--genesis", genesis, "--proof", one, "--record-line", rows[line - 1] + " ", expect=1)
        run_interop(genesis, one, expect=0)
    run_cli("prove-record", "--proof", record_set, "--records", csv, "--line", len(rows) + 1, "--out",
            os.path.join(cluster.workdir, "nope.json"), expect=2)
    run_cli("prove-record", "--proof", proof0, "--records", csv, "--line", 1, "--out",
            os.path.join(cluster.workdir, "nope.json"), expect=2)  # not a record-set bundle
    with open(one) as f:
        forged = json.load(f)
    forged["record"]["leaf_data"] += "30"  # one more byte: "...0"
    with open(altered, "w") as f:
        json.dump(forged, f)
    run_cli("verify", "--genesis", genesis, "--proof", altered, expect=1)
    run_interop(genesis, altered, expect=1)
    run_interop(genesis, proof0, files[0], expect=0)
    log(f"record proofs for lines 1, 2 and {len(rows)} verify (also with the independent verifier)")

    # Two anchor runs right after each other (the first still in the
    # mempool): the second signs the next nonce, not a conflicting one.
    quick = []
    for name in ("quick1.csv", "quick2.csv"):
        quick.append(os.path.join(data, name))
        with open(quick[-1], "w") as f:
            f.write(name + "\n")
        run_cli("--rpc", rpc0, "anchor", "--key", submitter, quick[-1], expect=0)
    run_cli("--rpc", rpc0, "anchor", "--key", submitter, "--wait", *quick, expect=0)

    # Read-only commands and exit codes.
    status = json.loads(run_cli("--rpc", rpc0, "--json", "status", expect=0).stdout)
    check(status["tree_size"] >= 4, f"status: {status}")
    tx = json.loads(run_cli("--rpc", rpc0, "--json", "tx", out["txs"][0], expect=0).stdout)
    check(tx["first_leaf_index"] == leaves[0] and tx["entries"] == 2, f"tx: {tx}")
    run_cli("--rpc", rpc0, "block", "1", expect=0)
    run_cli("--rpc", rpc0, "validators", expect=0)
    run_cli("--rpc", f"http://127.0.0.1:{base_port + 99}", "status", expect=2)
    run_cli("block", expect=2)  # usage error

    # The monitor: two nodes, twice; the second pass checks consistency.
    state = os.path.join(cluster.workdir, "watch.json")
    for _ in range(2):
        run_cli("--rpc", rpc0, "watch", "--genesis", genesis, "--state", state, "--once",
                "--node", nodes[0].rpc_url, "--node", nodes[1].rpc_url, expect=0)
        run_cli("--rpc", rpc0, "anchor", "--key", submitter, "--wait", files[3], expect=0)
    r = run_cli("watch", "--genesis", genesis, "--state", state, "--once", "--node", nodes[2].rpc_url, expect=0)
    check("log is consistent" in r.stdout, f"watch output: {r.stdout}")

    # Final checkpoints are stored: after a restart node0 still serves the one
    # the first proof was made against (its height is older than the restart).
    cp_height = int(bundle_height(original))
    cluster.stop(nodes[0])
    cluster.start(nodes[0])
    cluster.wait_heights([nodes[0]], status["height"], CATCH_UP_DEADLINE)
    cp = cluster.rpc(nodes[0], "get_checkpoint", {"height": cp_height})
    check(cp["height"] == cp_height and len(cp["signatures"]) >= 3, f"checkpoint after restart: {cp}")
    tree_size = json.loads(original)["inclusion"]["tree_size"]
    again = cluster.rpc(nodes[0], "get_inclusion_proof", {"leaf_index": leaves[0], "tree_size": tree_size})
    # The node writes a bundle's JSON text itself (node::ProofBundles): it must
    # be exactly the compact, key-sorted form a JSON library gives.
    raw_body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "get_inclusion_proof",
                           "params": {"leaf_index": leaves[0], "tree_size": tree_size}}).encode()
    with urllib.request.urlopen(urllib.request.Request(
            nodes[0].rpc_url + "/", data=raw_body, headers={"Content-Type": "application/json"}),
            timeout=10) as response:
        raw = response.read().decode()
    canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    check(raw == canonical, f"get_inclusion_proof text is not compact sorted JSON:\n{raw}\n{canonical}")
    # Served from the stored checkpoints (the newest height of that size, so
    # the body may name a later block than the original): it must be for that
    # size and verify offline.
    check(again["inclusion"]["tree_size"] == tree_size and
          again["checkpoint"]["body"].split("\n")[1] == str(tree_size),
          f"proof at size {tree_size} after restart: {again}")
    restarted = os.path.join(cluster.workdir, "after-restart.proof.json")
    with open(restarted, "w") as f:
        json.dump(again, f)
    run_cli("verify", "--genesis", genesis, "--proof", restarted, "--file", files[0], expect=0)
    log(f"checkpoint of height {cp_height} still served after a restart")
    cluster.stop_all_checked()


# ---------------------------------------------------------------- metrics

def scrape(node):
    """GET /metrics: (Content-Type, {(name, frozenset(labels)): value}, text)."""
    with urllib.request.urlopen(node.rpc_url.rstrip("/") + "/metrics", timeout=10) as r:
        content_type = r.headers.get("Content-Type", "")
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        labels = frozenset()
        if "{" in name_labels:
            name, rest = name_labels.split("{", 1)
            pairs = [p for p in rest.rstrip("}").split(",") if p]
            labels = frozenset(tuple(p.split("=", 1)[0:1]) + (p.split("=", 1)[1].strip('"'),) for p in pairs)
        else:
            name = name_labels
        samples[(name, labels)] = float(value)
    return content_type, samples, text


def metric(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    check(key in samples, f"/metrics has no {name}{labels or ''}")
    return samples[key]


def promtool_check(text, where):
    check(PROMTOOL and os.access(PROMTOOL, os.X_OK),
          f"promtool not found ({PROMTOOL}): scripts/deps.sh installs it into /opt/cityledger-tools")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"promtool check metrics refused {where}'s /metrics:\n{r.stdout}{r.stderr}")


def scenario_metrics(cluster, base_port):
    """GET /metrics on every node: promtool accepts it, and the values follow
    what happens: anchors committed, commit latency observed, signatures
    collected, a refused transaction counted with its reason, a lost peer."""
    nodes = cluster.add_testnet("net", 4, base_port)
    net = os.path.join(cluster.workdir, "net")
    set_config_value(nodes[0].config_path, "log", "format", "json")
    start_network(cluster, nodes, min_height=2)
    cluster.wait_until("every node has 3 peers",
                       lambda: all((cluster.status(n) or {}).get("peers") == 3 for n in nodes),
                       PROGRESS_DEADLINE)

    data = os.path.join(cluster.workdir, "data")
    os.makedirs(data)
    files = []
    for i in range(3):
        path = os.path.join(data, f"sensor{i}.csv")
        with open(path, "w") as f:
            f.write(f"t,value\n{i},{i * 7}\n")
        files.append(path)
    run_cli("--rpc", nodes[0].rpc_url, "anchor", "--key", os.path.join(net, "keys", "submitter.key"), "--wait",
            *files, expect=0)
    # The admin account may not anchor: the mempool refuses and counts it.
    r = run_cli("--rpc", nodes[0].rpc_url, "anchor", "--key", os.path.join(net, "keys", "admin.key"), files[0])
    check(r.returncode != 0 and "role this action needs" in r.stderr,
          f"anchoring with the admin key: exit {r.returncode} {r.stderr}")
    log(f"the admin may not anchor: {r.stderr.strip()}")
    top = max_height(cluster, nodes)
    cluster.wait_heights(nodes, top, PROGRESS_DEADLINE)

    for node in nodes:
        content_type, m, text = scrape(node)
        check(content_type.startswith("text/plain; version=0.0.4"), f"{node.name}: Content-Type {content_type}")
        promtool_check(text, node.name)
        check(metric(m, "cityledger_height") >= top, f"{node.name}: height below {top}")
        check(metric(m, "cityledger_validators") == 4, f"{node.name}: validators")
        check(metric(m, "cityledger_peers_connected") == 3, f"{node.name}: peers")
        check(metric(m, "cityledger_log_size") >= 3, f"{node.name}: log size")
        check(metric(m, "cityledger_anchors_committed_total") >= 3, f"{node.name}: anchors committed")
        check(metric(m, "cityledger_transactions_committed_total") >= 1, f"{node.name}: transactions")
        check(metric(m, "cityledger_blocks_committed_total") >= top - 1, f"{node.name}: blocks")
        # Every node had the transaction in its mempool (gossip) before its block.
        check(metric(m, "cityledger_commit_latency_seconds_count") >= 1, f"{node.name}: commit latency")
        check(metric(m, "cityledger_commit_latency_seconds_bucket", le="+Inf") ==
              metric(m, "cityledger_commit_latency_seconds_count"), f"{node.name}: histogram +Inf bucket")
        check(metric(m, "cityledger_height_duration_seconds_count") >= top - 1, f"{node.name}: height durations")
        check(metric(m, "cityledger_checkpoint_signatures_collected_total") >= 3, f"{node.name}: signatures")
        check(metric(m, "cityledger_p2p_messages_received_total", kind="vote") > 0, f"{node.name}: votes")
        check(metric(m, "cityledger_p2p_messages_received_total", kind="proposal") > 0, f"{node.name}: proposals")
        check(metric(m, "cityledger_rocksdb_size_bytes") > 0, f"{node.name}: rocksdb size")
        check(metric(m, "cityledger_double_sign_refusals_total") == 0, f"{node.name}: double-sign refusals")
        check(metric(m, "cityledger_equivocation_evidence_total") == 0, f"{node.name}: evidence")
        check(metric(m, "cityledger_p2p_messages_dropped_total", stage="consensus", reason="bad_signature") == 0,
              f"{node.name}: bad signatures")
        check(metric(m, "cityledger_rpc_requests_total", method="status") >= 1, f"{node.name}: rpc requests")
    _, m0, _ = scrape(nodes[0])
    check(metric(m0, "cityledger_mempool_refused_total", source="rpc", reason="permission_denied") == 1,
          "node0 did not count the admin's refused transaction")
    log("/metrics of all 4 nodes pass promtool and match the network's state")

    cluster.kill(nodes[3])
    def lost_peer():
        _, m, _ = scrape(nodes[0])
        return metric(m, "cityledger_peers_connected") == 2 and \
            metric(m, "cityledger_p2p_disconnects_total", reason="connection_lost") >= 1
    cluster.wait_until("node0 reports 2 peers and a lost connection", lost_peer, PROGRESS_DEADLINE)
    log("a killed peer shows in peers_connected and disconnects_total")
    cluster.stop_all_checked()

    # node0 logged JSON lines (log.format = "json"), refusals with their reason.
    messages = []
    for line in cluster.log_text(nodes[0]).splitlines():
        # The harness's start markers, and main's own last words (plain by design).
        if line.startswith("===== harness: ") or line.startswith("cityledgerd: "):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise TestFailure(f"node0's log has a line that is not JSON: {line!r}")
        check({"time", "level", "node", "msg"} <= set(record), f"JSON log line lacks fields: {line}")
        messages.append(record["msg"])
    refusals = [m for m in messages if "refused" in m and "role" in m]
    check(refusals, "node0's log does not say why the admin's transaction was refused")
    log(f"node0's {len(messages)} log lines are JSON; the refusal reads: {refusals[0]!r}")


def bundle_height(bundle_bytes):
    body = json.loads(bundle_bytes)["checkpoint"]["body"]
    return next(line.split()[1] for line in body.splitlines() if line.startswith("height "))


def scenario_contracts(cluster, base_port):
    """PPP contracts end to end: a contract registered through a draft each
    party co-signs offline; events refused without the co-signature their
    rule names; a payment, a cost-share change and a milestone with a sealed
    field accepted; every event's proof verifies from genesis alone; one
    sealed field revealed and verified, a wrong value or salt rejected; and
    every node, also one restarted, holds the same contract history."""
    nodes = cluster.add_testnet("net", 4, base_port)
    net = os.path.join(cluster.workdir, "net")
    genesis = os.path.join(net, "genesis.json")
    partner_account = os.path.join(net, "keys", "partner.key")
    submitter = os.path.join(net, "keys", "submitter.key")
    rpc0, rpc2 = nodes[0].rpc_url, nodes[2].rpc_url
    start_network(cluster, nodes, min_height=2)

    keys, pubs = {}, {}
    for party in ("city", "operator", "contractor", "outsider"):
        keys[party] = os.path.join(cluster.workdir, party + ".key")
        pubs[party] = run_cli("keygen", "--out", keys[party], expect=0).stdout.split()[-1]
    parties = [f"--party={p}={pubs[p]}" for p in ("city", "operator", "contractor")]
    rules = ["--rule=cost-share=city,operator", "--rule=milestone=contractor", "--rule=payment=city"]

    # Registration: a draft, co-signed by each party on its own machine.
    draft = os.path.join(cluster.workdir, "register.json")
    run_cli("--rpc", rpc0, "contract", "register", "--id", "smart-lighting-2027",
            "--title", "Smart street lighting: PPP 2027-2037", *parties, *rules, "--out", draft, expect=0)
    run_cli("contract", "cosign", "--key", keys["city"], draft, expect=0)
    run_cli("contract", "cosign", "--key", keys["operator"], draft, expect=0)
    # Without the contractor's co-signature the registration is refused.
    r = run_cli("--rpc", rpc0, "contract", "submit", draft, "--key", partner_account, expect=2)
    check("co-signature of party 'contractor'" in r.stderr, f"unclear refusal: {r.stderr}")
    r = run_cli("contract", "cosign", "--key", keys["contractor"], draft, expect=0)
    check("Smart street lighting" in r.stdout, f"cosign does not show what is signed: {r.stdout}")
    # The submitter role may anchor but not act in contracts.
    r = run_cli("--rpc", rpc0, "contract", "submit", draft, "--key", submitter, expect=2)
    check("'partner' role" in r.stderr, f"unclear refusal of a submitter: {r.stderr}")
    r = run_cli("--rpc", rpc0, "--json", "contract", "submit", draft, "--key", partner_account, "--wait", expect=0)
    registered = json.loads(r.stdout)
    check(registered["committed"], f"registration not committed: {registered}")
    r = run_cli("--rpc", rpc0, "contract", "submit", draft, "--key", partner_account, expect=2)
    check("already registered" in r.stderr, f"second registration: {r.stderr}")
    log(f"contract registered at height {registered['height']} after 3 offline co-signatures")

    cid = "smart-lighting-2027"
    report = os.path.join(cluster.workdir, "milestone-1.pdf")
    with open(report, "wb") as f:
        f.write(b"%PDF-1.4 milestone 1: 4,000 luminaires installed\n")

    # Refusals, each with its reason, and nothing committed for them.
    r = run_cli("--rpc", rpc0, "contract", "event", "--id", cid, "--kind", "milestone", "--payload-file", report,
                "--cosign-key", keys["city"], "--key", partner_account, expect=2)
    check("needs the co-signature of 'contractor'" in r.stderr, f"missing co-signature: {r.stderr}")
    r = run_cli("--rpc", rpc0, "contract", "event", "--id", cid, "--kind", "payment", "--payload-file", report,
                "--amount", "1250000.00", "--currency", "EUR", "--cosign-key", keys["outsider"],
                "--cosign-key", keys["city"], "--key", partner_account, expect=2)
    check("not a party" in r.stderr, f"outsider's co-signature: {r.stderr}")
    r = run_cli("--rpc", rpc0, "contract", "event", "--id", cid, "--kind", "cost-share", "--payload-file", report,
                "--share", "city=60%", "--share", "operator=30%", "--cosign-key", keys["city"],
                "--cosign-key", keys["operator"], "--key", partner_account, expect=2)
    check("sum to 10000" in r.stderr, f"shares not summing to 100%: {r.stderr}")
    r = run_cli("--rpc", rpc0, "contract", "event", "--id", "no-such-contract", "--kind", "payment",
                "--payload-file", report, "--amount", "1", "--currency", "EUR", "--cosign-key", keys["city"],
                "--key", partner_account, expect=2)
    check("not registered" in r.stderr, f"unknown contract: {r.stderr}")

    # Accepted events.
    salts = os.path.join(cluster.workdir, "milestone-1.salts.json")
    run_cli("--rpc", rpc0, "--json", "contract", "event", "--id", cid, "--kind", "milestone",
            "--payload-file", report, "--doc", f"acceptance-report={report}", "--field", "district=north",
            "--sealed", "penalty_waived=EUR 18000.00", "--sealed", "supplier_discount=7.5%",
            "--salts-out", salts, "--cosign-key", keys["contractor"], "--key", partner_account, "--wait",
            expect=0)
    run_cli("--rpc", rpc0, "contract", "event", "--id", cid, "--kind", "payment", "--payload-file", report,
            "--amount", "1250000.00", "--currency", "EUR", "--cosign-key", keys["city"],
            "--key", partner_account, "--wait", expect=0)
    run_cli("--rpc", rpc2, "contract", "event", "--id", cid, "--kind", "cost-share", "--payload-file", report,
            "--share", "city=60%", "--share", "operator=40%", "--cosign-key", keys["city"],
            "--cosign-key", keys["operator"], "--key", partner_account, "--wait", expect=0)
    # The same co-signed event again is a replay.
    r = run_cli("--rpc", rpc0, "contract", "event", "--id", cid, "--kind", "payment", "--payload-file", report,
                "--amount", "1250000.00", "--currency", "EUR", "--cosign-key", keys["city"],
                "--key", partner_account, expect=2)
    check("already anchored" in r.stderr, f"replayed event: {r.stderr}")
    log("3 events committed; 5 bad ones refused with their reasons")

    # History with proofs; every proof verifies from genesis alone.
    proofs = os.path.join(cluster.workdir, "proofs")
    deadline = time.monotonic() + 60
    while True:
        r = run_cli("--rpc", rpc0, "--json", "contract", "events", cid, "--proof-dir", proofs)
        if r.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # the covering checkpoint is a moment behind the commit
    check(r.returncode == 0, f"contract events --proof-dir: {r.stderr}")
    events = json.loads(r.stdout)["events"]
    check([e["kind"] for e in events] == ["milestone", "payment", "cost-share"], f"events: {events}")
    for e in events:
        verdict = json.loads(run_cli("--json", "verify", "--genesis", genesis, "--proof", e["proof"],
                                     expect=0).stdout)
        check(verdict["verified"], f"event proof: {verdict}")
        with open(e["proof"]) as f:
            entry = json.load(f)["entry"]
        check(entry["kind"] == "contract-event" and entry["dataset_id"] == cid and
              entry["content_hash"] == e["content_hash"] and entry["metadata"]["kind"] == e["kind"],
              f"the proven leaf is not the event: {entry}")
    check(events[1]["entry"]["metadata"]["amount"] == "1250000.00 EUR", f"payment leaf: {events[1]['entry']}")
    check("penalty_waived" not in json.dumps(events[0]["event"]["fields"]) and
          "EUR 18000.00" not in json.dumps(events), "a sealed value leaked onto the ledger")
    log("each event's proof verifies offline; sealed values are not on the ledger")

    # Reveal one sealed field; tampered reveals fail.
    reveal = os.path.join(cluster.workdir, "reveal.json")
    run_cli("--rpc", rpc0, "contract", "reveal", "--salts", salts, "--field", "penalty_waived", "--out", reveal,
            expect=0)
    r = run_cli("verify", "--genesis", genesis, "--reveal", reveal, expect=0)
    check(r.stdout.startswith("VERIFIED") and "EUR 18000.00" in r.stdout, f"reveal: {r.stdout}")
    with open(reveal) as f:
        good = json.load(f)
    for what, change in [("value", lambda d: d.update(value="EUR 1800.00")),
                         ("salt", lambda d: d.update(salt="00" * 32)),
                         ("field", lambda d: d.update(field="supplier_discount")),
                         ("contract", lambda d: d.update(contract_id="another-contract"))]:
        bad = json.loads(json.dumps(good))
        change(bad)
        path = os.path.join(cluster.workdir, f"reveal-bad-{what}.json")
        with open(path, "w") as f:
            json.dump(bad, f)
        r = run_cli("verify", "--genesis", genesis, "--reveal", path, expect=1)
        check(r.stdout.startswith("FAILED"), f"tampered {what} not rejected: {r.stdout}")
    log("the revealed field verifies; a wrong value, salt, field or contract is rejected")

    # Every node, one of them restarted (state rebuilt from its blocks), agrees.
    cluster.stop(nodes[3])
    cluster.start(nodes[3])
    top = max(cluster.heights(nodes[:3]).values())
    cluster.wait_until("node3 restarted and caught up", lambda: (cluster.height(nodes[3]) or 0) >= top, 60)
    reference = cluster.rpc(nodes[0], "get_contract_events", {"contract_id": cid})
    for node in nodes[1:]:
        other = cluster.rpc(node, "get_contract_events", {"contract_id": cid})
        check(other == reference, f"{node.name} holds another contract history")
        shown = cluster.rpc(node, "get_contract", {"contract_id": cid})
        check(shown["events"] == 3 and [p["name"] for p in shown["parties"]] == ["city", "contractor", "operator"],
              f"{node.name}: {shown}")
    r = run_cli("--rpc", nodes[3].rpc_url, "contract", "show", cid, expect=0)
    check("payment: city" in r.stdout, f"contract show: {r.stdout}")
    log("all 4 nodes (one restarted) hold the same contract and events")


def scenario_websocket(cluster, base_port):
    """The node's WebSocket topics on a running network: every committed block
    is notified once, in order, and every block gets a notification of its
    final checkpoint, also when this node's own signature completed it."""
    nodes = cluster.add_testnet("net", 4, base_port, empty_interval_ms=100)
    start_network(cluster, nodes)
    ws = WebSocket(nodes[0].rpc_url)
    try:
        ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"topic": "blocks"}})
        ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "subscribe", "params": {"topic": "checkpoints"}})
        ws.send_json({"jsonrpc": "2.0", "id": 3, "method": "subscribe", "params": {"topic": "no-such-topic"}})
        answers, blocks, checkpoints = {}, [], {}
        deadline = time.monotonic() + PROGRESS_DEADLINE
        # A checkpoint is final within a block or two of its own; 60 blocks
        # give every one of the first 25 time enough.
        while len(blocks) < 25 or any(h not in checkpoints for h in blocks[:-3]):
            check(time.monotonic() < deadline and len(blocks) < 60,
                  f"after {len(blocks)} blocks, no checkpoint notification for heights "
                  f"{[h for h in blocks[:-3] if h not in checkpoints]} (got {sorted(checkpoints)})")
            message = ws.recv_json(timeout=30)
            if "id" in message:
                answers[message["id"]] = message
                continue
            check(message.get("method") == "subscription", f"unexpected message {message}")
            params = message["params"]
            result = params["result"]
            if params["topic"] == "blocks":
                check(not blocks or result["height"] == blocks[-1] + 1,
                      f"block notification {result['height']} after {blocks[-1:]}")
                blocks.append(result["height"])
            elif params["topic"] == "checkpoints":
                checkpoints.setdefault(result["height"], []).append(result)
            else:
                raise TestFailure(f"notification of topic {params['topic']}")
        check("result" in answers.get(1, {}) and "result" in answers.get(2, {}), f"subscribe answers: {answers}")
        check(answers.get(3, {}).get("error", {}).get("code") == -32602, f"unknown topic: {answers.get(3)}")
    finally:
        ws.close()
    # What was notified is what the node serves.
    for height in blocks[:-3]:
        notified = checkpoints[height][-1]
        served = cluster.rpc(nodes[0], "get_checkpoint", {"height": height})
        check(notified["body"] == served["body"] and notified["root"] == served["root"],
              f"checkpoint {height}: notified {notified} but get_checkpoint says {served}")
        check(len(notified["signatures"]) >= 3, f"checkpoint {height} notified without a quorum: {notified}")
    log(f"blocks {blocks[0]}..{blocks[-1]} notified in order; each one's final checkpoint notified")
    cluster.stop_all_checked()


SCENARIOS = {
    "websocket": scenario_websocket,
    "contracts": scenario_contracts,
    "commit": scenario_commit,
    "kill_restart": scenario_kill_restart,
    "late_join": scenario_late_join,
    "unpinned_peer": scenario_unpinned_peer,
    "quorum_loss": scenario_quorum_loss,
    "cli": scenario_cli,
    "watch_fork": scenario_watch_fork,
    "agent_crash": scenario_agent_crash,
    "metrics": scenario_metrics,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--bin", required=True, help="path to cityledgerd")
    parser.add_argument("--cli", help="path to the cityledger CLI (scenario cli)")
    parser.add_argument("--promtool", help="path to promtool (scenario metrics)")
    parser.add_argument("--base-port", type=int, required=True, help="first of 100 ports this run may use")
    parser.add_argument("--workdir", help="directory for homes and logs (emptied first); default: a temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the work directory after a success")
    args = parser.parse_args()
    global CLI_BINARY, PROMTOOL
    CLI_BINARY = os.path.abspath(args.cli) if args.cli else None
    PROMTOOL = args.promtool

    workdir = prepare_workdir(args.workdir, f"cluster_{args.scenario}_")
    log(f"scenario {args.scenario}: binary {args.bin}, ports {args.base_port}.., work dir {workdir}")

    started = time.monotonic()
    with Cluster(os.path.abspath(args.bin), workdir) as cluster:
        try:
            SCENARIOS[args.scenario](cluster, args.base_port)
        except Exception as e:  # report anything (failed check or harness error), then fail
            report_failure(f"{args.scenario}", e, cluster, workdir)
            return 1
    log(f"PASSED {args.scenario} in {time.monotonic() - started:.1f} s")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
