#!/usr/bin/env python3
"""Governance cluster tests (docs/governance.md): real `cityledgerd` processes
and the `cityledger gov` CLI.

  roles   grant a role with `gov propose/sign/submit` (each refusal on the way:
          too few approvals, a non-validator's approval, a carrier without the
          validator or admin role, a replay), then set block limits on chain
          and see the next blocks respect them.

Usage: governance_test.py SCENARIO --bin cityledgerd --cli cityledger --base-port N
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test  # noqa: E402
from cluster_harness import Cluster, check, prepare_workdir, report_failure  # noqa: E402
from cluster_test import log, run_cli, start_network  # noqa: E402


def propose(rpc, out, *args):
    r = run_cli("--rpc", rpc, "--json", "gov", "propose", *args, "--out", out, expect=0)
    return json.loads(r.stdout)


def sign(proposal, key):
    run_cli("gov", "sign", "--proposal", proposal, "--key", key, expect=0)


def submit(rpc, proposal, key, expect):
    return run_cli("--rpc", rpc, "--json", "gov", "submit", "--proposal", proposal, "--key", key, "--wait",
                   expect=expect)


def scenario_roles(cluster, base_port):
    nodes = cluster.add_testnet("net", 4, base_port)
    net = os.path.join(cluster.workdir, "net")
    validator_keys = [os.path.join(node.home, "validator.key") for node in nodes]
    admin = os.path.join(net, "keys", "admin.key")
    submitter = os.path.join(net, "keys", "submitter.key")
    rpc0 = nodes[0].rpc_url
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
        cluster.wait_until(f"{node.name} sees the grant",
                           lambda node=node: "submitter" in cluster.rpc(node, "get_account",
                                                                        {"pubkey": newcomer_pub})["roles"], 30)
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


SCENARIOS = {"roles": scenario_roles}


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
