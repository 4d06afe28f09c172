#!/usr/bin/env python3
"""docker-compose.yml's network without Docker: validators that dial each
other by host name.

`cityledgerd testnet --hosts localhost,... --bind 127.0.0.1` writes a genesis
whose `p2p` entries are names (as the compose file's `--hosts node0,...`
does), then four real nodes must resolve them, connect with pinned TLS and
commit the same blocks. The images themselves are not built on machines that
reach no container registry (docs/operations.md, Containers); this is the
part of their set-up that can run anywhere.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster_harness import Cluster, Node, TestFailure, check, port_is_free, set_config_value  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--base-port", type=int, required=True)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="cl_hosts_")
    cluster = Cluster(args.bin, workdir)
    try:
        ports = [args.base_port + 10 * i + d for i in range(4) for d in (0, 1)]
        busy = [p for p in ports if not port_is_free(p)]
        check(not busy, f"ports in use on 127.0.0.1: {busy}")
        result = subprocess.run([args.bin, "testnet", "--validators", "4", "--dir", os.path.join(workdir, "net"),
                                 "--base-port", str(args.base_port), "--hosts", "localhost,localhost,localhost,localhost",
                                 "--bind", "127.0.0.1", "--json"], capture_output=True, text=True, timeout=120)
        check(result.returncode == 0, f"testnet failed: {result.stderr}")
        description = json.loads(result.stdout)
        genesis = json.load(open(description["genesis"]))
        addresses = [v["p2p"] for v in genesis["validators"]]
        check(addresses == [f"localhost:{args.base_port + 10 * i}" for i in range(4)],
              f"genesis p2p entries: {addresses}")
        nodes = []
        for i, entry in enumerate(description["nodes"]):
            check(entry["rpc"] == f"http://localhost:{args.base_port + 10 * i + 1}", f"rpc url {entry['rpc']}")
            node = Node(f"node{i}", entry["home"], f"http://127.0.0.1:{args.base_port + 10 * i + 1}",
                        entry["p2p"], os.path.join(workdir, f"node{i}.log"))
            set_config_value(node.config_path, "block", "empty_interval_ms", 300)
            nodes.append(node)
        cluster.nodes.extend(nodes)
        for node in nodes:
            cluster.start(node)
        cluster.wait_heights(nodes, 5, timeout=120)
        cluster.check_same_blocks(nodes, 5)
        peers = [(cluster.status(n) or {}).get("peers") for n in nodes]
        print(f"4 validators dialing 'localhost:PORT' committed 5 identical blocks; peers {peers}")
        cluster.stop_all_checked()
    except (TestFailure, OSError, ValueError) as e:
        print(f"FAILED: {e}\n{cluster.log_tails()}", file=sys.stderr)
        cluster.close()
        return 1
    cluster.close()
    shutil.rmtree(workdir, ignore_errors=True)
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
