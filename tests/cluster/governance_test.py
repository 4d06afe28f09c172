#!/usr/bin/env python3
"""Governance cluster tests (docs/governance.md): real `cityledgerd` processes
and the `cityledger gov` CLI.

  remove  remove a validator (node1, so later indexes shift) at an effective
          height while anchoring goes on:
          the schedule (get_validators per height), block headers' set hash,
          checkpoint signatures and commit certificates from the new set only,
          a second set change refused while one is pending, a restarted node
          rebuilding the schedule, bundles from before and after verifying
          from genesis (the later one carrying the change), the later
          checkpoint re-signed by the old set with node1 refused.
  join    a fifth validator, not in genesis, is added by governance while
          anchoring goes on: the validators connect to it, it catches up and
          votes (checkpoints, a later governance approval); then node1 is
          removed and disconnected; then node2's consensus and TLS keys are
          rotated (a restart with the new keys); bundles from before, between
          and after verify from genesis alone, and the last checkpoint
          re-signed with node1 is refused.
  roles   grant a role with `gov propose/sign/submit` (each refusal on the way:
          too few approvals, a non-validator's approval, a carrier without the
          validator or admin role, a replay), then set block limits on chain
          and see the next blocks respect them.

Usage: governance_test.py SCENARIO --bin cityledgerd --cli cityledger --base-port N
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # importing cluster_test must not leave __pycache__ in the source tree
import cluster_test  # noqa: E402
from cluster_harness import Cluster, Node, RpcError, check, prepare_workdir, report_failure, set_config_value  # noqa: E402
from cluster_test import log, run_cli, start_network  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from verify_proof import G, N, point_mul, tagged_hash  # noqa: E402


class Net:
    """A 4-validator testnet and the paths and keys the scenarios use."""

    def __init__(self, cluster, base_port):
        self.nodes = cluster.add_testnet("net", 4, base_port)
        self.dir = os.path.join(cluster.workdir, "net")
        self.genesis = os.path.join(self.dir, "genesis.json")
        self.validator_keys = [os.path.join(node.home, "validator.key") for node in self.nodes]
        self.pubkeys = [run_cli("pubkey", "--key", k, expect=0).stdout.strip() for k in self.validator_keys]
        self.admin = os.path.join(self.dir, "keys", "admin.key")
        self.submitter = os.path.join(self.dir, "keys", "submitter.key")
        self.rpc0 = self.nodes[0].rpc_url
        with open(self.genesis) as f:
            self.chain_id = json.load(f)["chain_id"]


def init_home(cluster, home, chain_id, *args):
    """`cityledgerd init`: a home with new keys; returns (pubkey, TLS pin)."""
    r = subprocess.run([cluster.binary, "init", "--home", home, "--chain-id", chain_id, *args], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, f"init {home}: {r.stderr}")
    fields = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
    return fields["validator pubkey"].strip(), fields["tls pubkey pin"].strip()


def resigned(cluster, bundle_path, signers, name):
    """A copy of a bundle whose checkpoint is signed by `signers` ((pubkey,
    key file) pairs) instead: what those keys could forge. Returns (path, bundle)."""
    with open(bundle_path) as f:
        bundle = json.load(f)
    digest = hashlib.sha256(bundle["checkpoint"]["body"].encode()).digest()
    bundle["checkpoint"]["signatures"] = [{"validator": pub, "signature": bip340_sign(key, digest)}
                                          for pub, key in signers]
    path = os.path.join(cluster.workdir, name)
    with open(path, "w") as f:
        json.dump(bundle, f)
    return path, bundle


def check_python_verifier(genesis, verdicts):
    """The independent Python verifier agrees: (bundle, expected exit code) pairs."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "verify_proof.py")
    for bundle, expect in verdicts:
        r = subprocess.run([sys.executable, script, genesis, bundle], capture_output=True, text=True, timeout=120)
        check(r.returncode == expect, f"verify_proof.py {bundle}: exit {r.returncode}: {r.stdout}{r.stderr}")


def propose(rpc, out, *args):
    r = run_cli("--rpc", rpc, "--json", "gov", "propose", *args, "--out", out, expect=0)
    return json.loads(r.stdout)


def sign(proposal, key):
    run_cli("gov", "sign", "--proposal", proposal, "--key", key, expect=0)


def submit(rpc, proposal, key, expect):
    return run_cli("--rpc", rpc, "--json", "gov", "submit", "--proposal", proposal, "--key", key, "--wait",
                   expect=expect)


def account_roles(cluster, node, pubkey):
    try:
        return cluster.rpc(node, "get_account", {"pubkey": pubkey})["roles"]
    except RpcError as e:
        if e.error.get("code") == -32001:  # not found: no account (yet)
            return []
        raise


def scenario_roles(cluster, base_port):
    net = Net(cluster, base_port)
    nodes, validator_keys = net.nodes, net.validator_keys
    admin, submitter, rpc0 = net.admin, net.submitter, net.rpc0
    start_network(cluster, nodes, min_height=2)

    newcomer = os.path.join(cluster.workdir, "newcomer.key")
    newcomer_pub = run_cli("keygen", "--out", newcomer, expect=0).stdout.strip()
    data = os.path.join(cluster.workdir, "reading.csv")
    with open(data, "w") as f:
        f.write("sensor,value\nA,1\n")
    r = run_cli("--rpc", rpc0, "anchor", "--key", newcomer, data, expect=2)
    check("not an account" in r.stderr, f"unclear refusal of an unknown signer: {r.stderr}")

    # Propose: the set hash comes from the node.
    grant = os.path.join(cluster.workdir, "grant.json")
    p = propose(rpc0, grant, "roles", "--account", newcomer_pub, "--grant", "submitter", "--memo", "new platform")
    validators = cluster.rpc(nodes[0], "get_validators")
    check(p["validator_set_hash"] == validators["validator_set_hash"], f"set hash: {p} vs {validators}")

    # Two approvals of four validators: 2f+1 = 3 are needed.
    sign(grant, validator_keys[0])
    sign(grant, validator_keys[1])
    r = submit(rpc0, grant, admin, expect=2)
    check("2 valid approvals; 2f+1 = 3" in r.stderr, f"unclear refusal of too few approvals: {r.stderr}")

    # An approval by a key that is not a validator does not count.
    foreign = os.path.join(cluster.workdir, "foreign.json")
    shutil.copy(grant, foreign)
    sign(foreign, submitter)
    r = submit(rpc0, foreign, admin, expect=2)
    check("not a validator of the current set" in r.stderr, f"unclear refusal of a non-validator: {r.stderr}")

    # A tampered approval is refused by the CLI before it reaches a node.
    tampered = os.path.join(cluster.workdir, "tampered.json")
    with open(grant) as f:
        doc = json.load(f)
    sig = doc["approvals"][0]["signature"]
    doc["approvals"][0]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    with open(tampered, "w") as f:
        json.dump(doc, f)
    r = run_cli("gov", "show", "--proposal", tampered, expect=2)
    check("does not verify" in r.stderr, f"tampered approval not caught: {r.stderr}")

    # Three approvals; a submitter account may not carry governance.
    sign(grant, validator_keys[3])
    r = submit(rpc0, grant, submitter, expect=2)
    check("lacks the 'validator' or 'admin' role" in r.stderr, f"unclear role refusal: {r.stderr}")
    r = submit(rpc0, grant, admin, expect=0)
    height = json.loads(r.stdout)["height"]
    log(f"role grant committed at height {height}")
    for node in nodes:
        # A node that has not applied the block yet answers "no account".
        cluster.wait_until(f"{node.name} sees the grant",
                           lambda node=node: "submitter" in account_roles(cluster, node, newcomer_pub), 30)
    run_cli("--rpc", rpc0, "anchor", "--key", newcomer, "--wait", data, expect=0)

    # The same proposal again (a new transaction carrying it) is a replay.
    r = submit(rpc0, grant, validator_keys[2], expect=2)
    check("already applied" in r.stderr, f"unclear refusal of a replay: {r.stderr}")

    # Block limits: one transaction per block from the next height on.
    limits = os.path.join(cluster.workdir, "limits.json")
    propose(rpc0, limits, "block-limits", "--max-txs", "1", "--max-bytes", str(2 << 20))
    for key in validator_keys[1:]:
        sign(limits, key)
    r = submit(rpc0, limits, validator_keys[0], expect=0)
    limits_height = json.loads(r.stdout)["height"]
    files = []
    for i in range(3):
        path = os.path.join(cluster.workdir, f"limited{i}.csv")
        with open(path, "w") as f:
            f.write(f"row,{i}\n")
        files.append(path)
    r = run_cli("--rpc", rpc0, "--json", "anchor", "--key", submitter, "--batch", "1", "--wait", *files,
                expect=0)
    heights = sorted({e["height"] for e in json.loads(r.stdout)["entries"]})
    check(len(heights) == 3 and heights[0] > limits_height, f"3 transactions not in 3 blocks: {heights}")
    cluster.wait_heights([nodes[1]], heights[-1], 30)
    for h in range(limits_height + 1, heights[-1] + 1):
        block = cluster.rpc(nodes[1], "get_block", {"height": h})
        check(len(block["txs"]) <= 1, f"block {h} has {len(block['txs'])} transactions over the limit of 1")
    log(f"block limits in force from height {limits_height + 1}: anchors at {heights}")

    # Restarted nodes rebuild roles and limits from their blocks.
    cluster.stop(nodes[2])
    cluster.start(nodes[2])
    cluster.wait_heights([nodes[2]], heights[-1], 60)
    roles = cluster.rpc(nodes[2], "get_account", {"pubkey": newcomer_pub})["roles"]
    check("submitter" in roles, f"node2 lost the granted role on restart: {roles}")


class Anchorer(threading.Thread):
    """Anchors a new small file every few hundred ms until stopped; records
    every refusal, so a set change that disturbs clients is seen."""

    def __init__(self, workdir, rpc, key):
        super().__init__(daemon=True)
        self.workdir, self.rpc, self.key = workdir, rpc, key
        self.stop_event = threading.Event()
        self.anchored, self.failures = 0, []

    def run(self):
        n = 0
        while not self.stop_event.is_set():
            path = os.path.join(self.workdir, f"stream{n}.csv")
            with open(path, "w") as f:
                f.write(f"reading,{n}\n")
            r = run_cli("--rpc", self.rpc, "anchor", "--key", self.key, path)
            if r.returncode == 0:
                self.anchored += 1
            else:
                self.failures.append(r.stderr.strip())
            n += 1
            self.stop_event.wait(0.2)

    def stop(self):
        self.stop_event.set()
        self.join(timeout=120)


def anchor_and_prove(rpc, key, workdir, name):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(f"{name}\n")
    proofs = os.path.join(workdir, "proofs")
    r = run_cli("--rpc", rpc, "--json", "anchor", "--key", key, "--wait", "--proof-dir", proofs, path, expect=0)
    entry = json.loads(r.stdout)["entries"][0]
    return path, entry["proof"], entry["height"]


def checkpoint_signers(cluster, node, height):
    """The signers of the final checkpoint of `height` (waits until it is final there)."""
    found = {}

    def final():
        try:
            found["cp"] = cluster.rpc(node, "get_checkpoint", {"height": height})
            return True
        except RpcError:
            return False

    cluster.wait_until(f"a final checkpoint of height {height} on {node.name}", final, 30)
    return {s["validator"] for s in found["cp"]["signatures"]}


def bip340_sign(key_file, digest):
    """BIP340 signature (the BIP's reference algorithm, zero aux) with the
    secret key of a key file (64 hex): lets the test forge what a set of keys
    could sign."""
    with open(key_file) as f:
        d0 = int(f.read().strip(), 16)
    pub = point_mul(G, d0)
    d = d0 if pub[1] % 2 == 0 else N - d0
    t = (d ^ int.from_bytes(tagged_hash("BIP0340/aux", bytes(32)), "big")).to_bytes(32, "big")
    px = pub[0].to_bytes(32, "big")
    k0 = int.from_bytes(tagged_hash("BIP0340/nonce", t + px + digest), "big") % N
    r = point_mul(G, k0)
    k = k0 if r[1] % 2 == 0 else N - k0
    rx = r[0].to_bytes(32, "big")
    e = int.from_bytes(tagged_hash("BIP0340/challenge", rx + px + digest), "big") % N
    return (rx + ((k + e * d) % N).to_bytes(32, "big")).hex()


def check_bundles_across_the_removal(cluster, genesis, before_proof, after_proof, removal, effective,
                                     validator_keys, pubkeys, remaining_keys):
    """The bundle after the removal carries it and verifies from genesis; the
    same checkpoint signed by the old set, the removed node1 included, does not."""
    with open(before_proof) as f:
        before = json.load(f)
    with open(after_proof) as f:
        after = json.load(f)
    with open(removal) as f:
        approved = json.load(f)
    check(before["validator_sets"] == [], f"a bundle before the change lists set changes: {before['validator_sets']}")
    sets = after["validator_sets"]
    check(len(sets) == 1, f"the bundle after the change lists {len(sets)} set changes")
    change = sets[0]
    check(change["effective_height"] == effective and change["proposal"] == approved["proposal"],
          f"the bundle's set change is not the committed removal: {change}")
    check(sorted(a["validator"] for a in change["approvals"]) == sorted(remaining_keys),
          f"approvals of the change: {change['approvals']}")
    check([v["pubkey"] for v in change["validators"]] == remaining_keys, f"resulting set: {change['validators']}")
    r = run_cli("--json", "verify", "--genesis", genesis, "--proof", after_proof, expect=0)
    verdict = json.loads(r.stdout)
    check(verdict["quorum"] == 3 and verdict["signers"] == 3, f"verdict: {verdict}")

    # The same checkpoint signed by node0, node1 (removed) and node2: a quorum of
    # genesis's set, but node1 is not a member of the set in charge.
    forged_path, forged = resigned(cluster, after_proof, [(pubkeys[i], validator_keys[i]) for i in (0, 1, 2)],
                                   "forged-old-set.json")
    r = run_cli("verify", "--genesis", genesis, "--proof", forged_path, expect=1)
    check("checkpoint_quorum" in r.stdout and pubkeys[1] in r.stdout,
          f"unclear refusal of a checkpoint signed by the removed set: {r.stdout}")
    # The forged signatures are valid: without the set change the old set is in
    # charge and they verify. Omitting a change is what genesis alone cannot
    # rule out (docs/proof-format.md, "long-range rewrites").
    forged["validator_sets"] = []
    omitted_path = os.path.join(cluster.workdir, "forged-omitted-change.json")
    with open(omitted_path, "w") as f:
        json.dump(forged, f)
    run_cli("verify", "--genesis", genesis, "--proof", omitted_path, expect=0)
    # The independent Python verifier follows the change too.
    check_python_verifier(genesis, ((after_proof, 0), (forged_path, 1)))
    log("the bundle after the change carries it; the old set's signatures are refused")


def metric_value(cluster, node, name, labels):
    """One sample of GET /metrics (0 when absent)."""
    url = node.rpc_url.rstrip("/") + "/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    wanted = name + "{" + labels + "}"
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


def check_disconnected(cluster, remaining, removed, effective):
    """The remaining validators dropped `removed` (p2p reason peer_removed),
    are connected to each other only, and `removed` stopped below `effective` + 1."""
    for node in remaining:
        cluster.wait_until(f"{node.name} connected to the {len(remaining) - 1} others only",
                           lambda node=node: cluster.rpc(node, "status")["peers"] == len(remaining) - 1, 30)
    dropped = sum(metric_value(cluster, node, "cityledger_p2p_disconnects_total", 'reason="peer_removed"')
                  for node in remaining)
    check(dropped >= 1, "no remaining validator counts a peer_removed disconnect")
    top = cluster.height(remaining[0])
    cluster.wait_heights(remaining, top + 3, 60)
    stuck = cluster.height(removed)
    check(stuck <= effective, f"{removed.name} still follows the chain after its removal: height {stuck}")
    cluster.wait_until(f"{removed.name} without peers", lambda: cluster.rpc(removed, "status")["peers"] == 0, 30)
    log(f"{removed.name} is disconnected (stopped at height {stuck}, the others at {cluster.height(remaining[0])})")


def add_home(cluster, net, name, base_port):
    """A validator home that is not in genesis (`cityledgerd init`, with the
    network's genesis.json); returns the Node and its pubkey and TLS pin."""
    home = os.path.join(net.dir, name)
    p2p, rpc = f"127.0.0.1:{base_port}", f"127.0.0.1:{base_port + 1}"
    pubkey, tls_pin = init_home(cluster, home, net.chain_id, "--name", name, "--p2p", p2p, "--rpc", rpc)
    shutil.copyfile(net.genesis, os.path.join(home, "genesis.json"))
    node = Node(f"net/{name}", home, f"http://{rpc}", p2p, os.path.join(cluster.workdir, f"net_{name}.log"))
    set_config_value(node.config_path, "block", "empty_interval_ms", 300)
    # Often, so its restart below starts from a snapshot that holds the set changes.
    set_config_value(node.config_path, "state", "snapshot_interval_blocks", 10)
    cluster.nodes.append(node)
    return node, pubkey, tls_pin


def scenario_join(cluster, base_port):
    """A fifth validator joins and then node1 leaves, while anchoring goes on."""
    net = Net(cluster, base_port)
    nodes, genesis, validator_keys, pubkeys = net.nodes, net.genesis, net.validator_keys, net.pubkeys
    admin, submitter, rpc0 = net.admin, net.submitter, net.rpc0
    newcomer, new_pub, new_pin = add_home(cluster, net, "node4", base_port + 40)
    new_key = os.path.join(newcomer.home, "validator.key")
    start_network(cluster, nodes, min_height=2)
    # Not in genesis: it starts as a follower, and nobody accepts its TLS key yet.
    cluster.start(newcomer)
    before_path, before_proof, _ = anchor_and_prove(rpc0, submitter, cluster.workdir, "before.csv")
    cluster.wait_until("the newcomer answers", lambda: cluster.status(newcomer) is not None, 30)
    check(cluster.rpc(newcomer, "status")["peers"] == 0, "the newcomer has peers before its addition")

    anchorer = Anchorer(cluster.workdir, rpc0, submitter)
    anchorer.start()
    try:
        joined = cluster.height(nodes[0]) + 12
        addition = os.path.join(cluster.workdir, "add.json")
        propose(rpc0, addition, "add-validator", "--pubkey", new_pub, "--tls-pubkey", new_pin, "--name", "node4",
                "--p2p", newcomer.p2p, "--effective-height", str(joined), "--memo", "the port authority joins")
        for key in validator_keys[:3]:
            sign(addition, key)
        r = submit(rpc0, addition, admin, expect=0)
        log(f"addition of node4 committed at height {json.loads(r.stdout)['height']}, effective at {joined}")
        # The validators dial the newcomer at once; it catches up and votes from `joined` on.
        five = nodes + [newcomer]
        cluster.wait_heights(five, joined + 3, 120)
        check(cluster.rpc(newcomer, "status")["peers"] == 4, "the newcomer is not connected to all four")
        after_add_path, after_add_proof, _ = anchor_and_prove(rpc0, submitter, cluster.workdir, "between.csv")
        signed = [h for h in range(joined, joined + 6) if new_pub in checkpoint_signers(cluster, nodes[0], h)]
        check(signed, f"node4 signed no checkpoint of heights {joined}..{joined + 5}")

        left = cluster.height(nodes[0]) + 12
        removal = os.path.join(cluster.workdir, "remove.json")
        propose(rpc0, removal, "remove-validator", "--pubkey", pubkeys[1], "--effective-height", str(left),
                "--memo", "node1 leaves the consortium")
        # 2f+1 of the five: the newcomer's approval counts.
        for key in (validator_keys[0], validator_keys[2], validator_keys[3], new_key):
            sign(removal, key)
        r = submit(rpc0, removal, admin, expect=0)
        log(f"removal of node1 committed at height {json.loads(r.stdout)['height']}, effective at {left}")
        remaining = [nodes[0], nodes[2], nodes[3], newcomer]
        cluster.wait_heights(remaining, left + 4, 120)
    finally:
        anchorer.stop()
    check(not anchorer.failures, f"anchoring failed during the changes: {anchorer.failures[:3]}")
    check(anchorer.anchored > 0, "nothing anchored during the changes")
    log(f"{anchorer.anchored} files anchored while node4 joined and node1 left")

    sets = [cluster.rpc(nodes[0], "get_validators", {"height": h})["validators"] for h in (joined - 1, joined, left)]
    check([[v["pubkey"] for v in s] for s in sets] ==
          [pubkeys, pubkeys + [new_pub], [pubkeys[0], pubkeys[2], pubkeys[3], new_pub]], f"schedule: {sets}")
    for h in range(left + 1, left + 4):
        signers = cluster.rpc(nodes[0], "get_block", {"height": h})["last_commit"]["signers"]
        check(len(signers) >= 3 and max(signers) <= 3, f"commit of {h - 1} signed by {signers}")
    check_disconnected(cluster, remaining, nodes[1], left)

    # node2 rotates both keys: its operator restarts it with the new ones once
    # the last height of its old keys is committed (docs/governance.md).
    fresh = os.path.join(cluster.workdir, "node2-new-keys")
    rotated_pub, rotated_pin = init_home(cluster, fresh, net.chain_id)
    rotated = cluster.height(nodes[0]) + 10
    rotation = os.path.join(cluster.workdir, "rotate.json")
    propose(rpc0, rotation, "rotate-keys", "--pubkey", pubkeys[2], "--new-pubkey", rotated_pub, "--new-tls-pubkey",
            rotated_pin, "--effective-height", str(rotated), "--memo", "node2's keys are renewed")
    for key in (validator_keys[0], validator_keys[3], new_key):
        sign(rotation, key)
    submit(rpc0, rotation, admin, expect=0)
    cluster.wait_heights([nodes[0]], rotated - 1, 60)
    cluster.stop(nodes[2])
    for name in ("validator.key", "tls.key", "tls.crt"):
        shutil.copyfile(os.path.join(fresh, name), os.path.join(nodes[2].home, name))
    cluster.start(nodes[2])
    cluster.wait_heights(remaining, rotated + 3, 120)
    rotated_set = [v["pubkey"] for v in cluster.rpc(nodes[0], "get_validators", {"height": rotated})["validators"]]
    check(rotated_set == [pubkeys[0], rotated_pub, pubkeys[3], new_pub], f"set after the rotation: {rotated_set}")
    top = cluster.height(nodes[0])
    signed = [h for h in range(top, top + 8) if rotated_pub in checkpoint_signers(cluster, nodes[0], h)]
    check(signed, f"node2 signed no checkpoint with its new key at heights {top}..{top + 7}")
    check(cluster.rpc(nodes[2], "status")["peers"] == 3, "node2 is not connected to the three others after rotating")
    log(f"node2 votes with its new keys from height {rotated} (signed checkpoint {signed[0]})")
    # The explorer's activity follows validators by key: the newcomer precommits.
    listed = cluster.rpc(nodes[0], "get_validator_activity")["validators"]
    check([v["pubkey"] for v in listed] == [pubkeys[0], rotated_pub, pubkeys[3], new_pub], f"activity lists {listed}")
    check((listed[3]["last_precommit_height"] or 0) >= joined and listed[3]["connected"],
          f"the newcomer's activity: {listed[3]}")

    # The newcomer restarts from its state snapshot (which holds all three set
    # changes) and the blocks after it, and keeps voting.
    cluster.stop(newcomer)
    cluster.start(newcomer)
    cluster.wait_heights(remaining, cluster.height(nodes[0]) + 3, 120)
    check("committed state from the snapshot at height" in cluster.log_text(newcomer),
          "the restarted newcomer did not start from its state snapshot")
    check(cluster.rpc(newcomer, "get_validators", {"height": rotated})["validator_set_hash"] ==
          cluster.rpc(nodes[0], "get_validators", {"height": rotated})["validator_set_hash"],
          "the newcomer's schedule after its restart differs from node0's")

    after_path, after_proof, _ = anchor_and_prove(rpc0, submitter, cluster.workdir, "after.csv")
    for path, proof, changes in ((before_path, before_proof, 0), (after_add_path, after_add_proof, 1),
                                 (after_path, after_proof, 3)):
        with open(proof) as f:
            check(len(json.load(f)["validator_sets"]) == changes, f"{proof} should carry {changes} set changes")
        run_cli("verify", "--genesis", genesis, "--proof", proof, "--file", path, expect=0)
    log("bundles from before, between and after the three changes verify from genesis")

    # The last checkpoint re-signed by the five-validator set's old quorum, node1
    # included: refused, node1 is not in the set in charge.
    signers = [(pubkeys[i], validator_keys[i]) for i in (0, 1, 2)] + [(new_pub, new_key)]
    forged_path, _ = resigned(cluster, after_proof, signers, "forged-removed-set.json")
    r = run_cli("verify", "--genesis", genesis, "--proof", forged_path, expect=1)
    check("checkpoint_quorum" in r.stdout and pubkeys[1] in r.stdout,
          f"unclear refusal of a checkpoint signed with the removed validator: {r.stdout}")
    check_python_verifier(genesis, ((after_proof, 0), (forged_path, 1)))
    log("a checkpoint signed with the removed validator is refused")


def scenario_remove(cluster, base_port):
    net = Net(cluster, base_port)
    nodes, genesis, validator_keys, pubkeys = net.nodes, net.genesis, net.validator_keys, net.pubkeys
    admin, submitter, rpc0 = net.admin, net.submitter, net.rpc0
    remaining = [nodes[0], nodes[2], nodes[3]]
    remaining_keys = [pubkeys[0], pubkeys[2], pubkeys[3]]
    start_network(cluster, nodes, min_height=2)
    before_path, before_proof, _ = anchor_and_prove(rpc0, submitter, cluster.workdir, "before.csv")

    anchorer = Anchorer(cluster.workdir, rpc0, submitter)
    anchorer.start()
    try:
        effective = cluster.height(nodes[0]) + 12
        removal = os.path.join(cluster.workdir, "remove.json")
        # node1, in the middle: the indexes of node2 and node3 shift down, so a
        # certificate checked against the wrong set fails.
        propose(rpc0, removal, "remove-validator", "--pubkey", pubkeys[1], "--effective-height", str(effective),
                "--memo", "node1 leaves the consortium")
        for key in (validator_keys[0], validator_keys[2], validator_keys[3]):
            sign(removal, key)
        r = submit(rpc0, removal, admin, expect=0)
        committed_at = json.loads(r.stdout)["height"]
        log(f"removal of node1 committed at height {committed_at}, effective at {effective}")
        cluster.wait_until("node2 reports the pending change",
                           lambda: cluster.rpc(nodes[2], "get_validators").get("next_set_change_height") == effective,
                           30)

        # While it is pending, a second set change is refused.
        second = os.path.join(cluster.workdir, "second.json")
        propose(rpc0, second, "remove-validator", "--pubkey", pubkeys[2], "--effective-height",
                str(effective + 20))
        for key in (validator_keys[0], validator_keys[2], validator_keys[3]):
            sign(second, key)
        r = submit(rpc0, second, admin, expect=2)
        check("another validator-set change is pending (effective at height" in r.stderr,
              f"unclear refusal of a second pending change: {r.stderr}")

        cluster.wait_heights(remaining, effective + 4, 120)
    finally:
        anchorer.stop()
    check(not anchorer.failures, f"anchoring failed during the change: {anchorer.failures[:3]}")
    check(anchorer.anchored > 0, "nothing anchored during the change")
    log(f"{anchorer.anchored} files anchored while the set changed")

    old_set = cluster.rpc(nodes[0], "get_validators", {"height": effective - 1})
    new_set = cluster.rpc(nodes[0], "get_validators", {"height": effective})
    check([x["pubkey"] for x in old_set["validators"]] == pubkeys, f"set before: {old_set}")
    check([x["pubkey"] for x in new_set["validators"]] == remaining_keys, f"set after: {new_set}")
    check(new_set["quorum"] == 3 and old_set["validator_set_hash"] != new_set["validator_set_hash"],
          f"quorum/hash: {new_set}")
    for h in (effective - 1, effective, effective + 1):
        header = cluster.rpc(nodes[0], "get_block", {"height": h})
        expected = (old_set if h < effective else new_set)["validator_set_hash"]
        check(header["validator_set_hash"] == expected, f"block {h} names set {header['validator_set_hash']}")
    # Certificates of heights >= effective come from the three remaining
    # validators (indexes in the new set: 0..2).
    for h in range(effective + 1, effective + 4):
        block = cluster.rpc(nodes[0], "get_block", {"height": h})
        signers = block["last_commit"]["signers"]
        check(len(signers) == 3 and max(signers) <= 2, f"commit of {h - 1} signed by {signers}")
    # Checkpoints: node1 signs before the change, never from the effective height on.
    # (a final checkpoint needs only 3 of 4, so node1 must be in some, not all)
    signed_by_node1 = [h for h in range(committed_at, effective)
                       if pubkeys[1] in checkpoint_signers(cluster, nodes[0], h)]
    check(signed_by_node1, f"node1 signed no checkpoint of heights {committed_at}..{effective - 1}")
    for h in range(effective, effective + 4):
        signers = checkpoint_signers(cluster, nodes[0], h)
        check(signers == set(remaining_keys), f"checkpoint {h} signed by {signers}")
    # The explorer's activity lists the set in charge now: node1 is gone, node3
    # (index 2 in the new set) precommitted after the change.
    listed = cluster.rpc(nodes[0], "get_validator_activity")["validators"]
    check([(v["index"], v["name"]) for v in listed] == [(0, "node0"), (1, "node2"), (2, "node3")],
          f"activity lists {listed}")
    activity = {v["name"]: v for v in listed}
    check((activity["node3"]["last_precommit_height"] or 0) >= effective,
          f"node3 not shown precommitting after the change: {activity['node3']}")
    # The removed node is disconnected: the others drop it once its last
    # height is committed, refuse its pin from then on, and it stops there.
    check_disconnected(cluster, remaining, nodes[1], effective)

    # A restarted validator rebuilds the schedule from its blocks and keeps committing.
    cluster.stop(nodes[2])
    cluster.start(nodes[2])
    top = cluster.height(nodes[0])
    cluster.wait_heights(remaining, top + 3, 120)
    check(cluster.rpc(nodes[2], "get_validators")["validator_set_hash"] == new_set["validator_set_hash"],
          "node2 lost the set change on restart")

    after_path, after_proof, after_height = anchor_and_prove(rpc0, submitter, cluster.workdir, "after.csv")
    check(after_height >= effective, f"the 'after' anchor is at {after_height} < {effective}")
    for path, proof in ((before_path, before_proof), (after_path, after_proof)):
        run_cli("verify", "--genesis", genesis, "--proof", proof, "--file", path, expect=0)
    log("bundles from before and after the change verify from genesis")
    check_bundles_across_the_removal(cluster, genesis, before_proof, after_proof, removal, effective,
                                     validator_keys, pubkeys, remaining_keys)


SCENARIOS = {"roles": scenario_roles, "remove": scenario_remove, "join": scenario_join}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--bin", required=True, help="path to cityledgerd")
    parser.add_argument("--cli", required=True, help="path to the cityledger CLI")
    parser.add_argument("--base-port", type=int, required=True, help="first of 100 ports this run may use")
    parser.add_argument("--workdir", help="directory for homes and logs (emptied first); default: a temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the work directory after a success")
    args = parser.parse_args()
    cluster_test.CLI_BINARY = os.path.abspath(args.cli)

    workdir = prepare_workdir(args.workdir, f"governance_{args.scenario}_")
    log(f"scenario {args.scenario}: binary {args.bin}, ports {args.base_port}.., work dir {workdir}")
    started = time.monotonic()
    with Cluster(args.bin, workdir) as cluster:
        try:
            SCENARIOS[args.scenario](cluster, args.base_port)
        except Exception as e:  # report anything (failed check or harness error), then fail
            report_failure(f"governance {args.scenario}", e, cluster, workdir)
            return 1
    log(f"PASSED {args.scenario} in {time.monotonic() - started:.1f} s")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
