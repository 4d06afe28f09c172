#!/usr/bin/env python3
"""cityledgerd under a service manager: the sd_notify protocol, end to end.

Plays systemd's part with an AF_UNIX datagram socket named in NOTIFY_SOCKET
(and WATCHDOG_USEC), starts a real one-validator node made by `cityledgerd
init`, and checks what packaging/cityledgerd.service (Type=notify,
WatchdogSec=) relies on:

- READY=1 arrives, and at that moment the JSON-RPC port already answers
  `status` and `GET /livez` (the transport listens too: start() returns
  after both are bound);
- STATUS= lines report the height as it grows, and WATCHDOG=1 pings come at
  half the watchdog interval;
- after SIGTERM, STOPPING=1 arrives and the node exits 0.

Standard library only; exits non-zero with the node's log on any failure.
"""

import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster_harness import (TestFailure, check, port_is_free, rpc_call,  # noqa: E402
                             set_config_value, _die_with_parent)


class NotifySocket:
    """What systemd listens on: one datagram per sd_notify call."""

    def __init__(self, directory):
        # sun_path holds 108 bytes: keep the socket in a short temp directory.
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.received = []  # (monotonic time, message)

    def receive(self, timeout):
        """The next message as a dict of its assignments, or None after timeout s."""
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return None
        data = self.sock.recv(4096).decode()
        self.received.append((time.monotonic(), data))
        fields = {}
        for line in data.split("\n"):
            if "=" in line:
                key, value = line.split("=", 1)
                fields[key] = value
        return fields

    def wait_for(self, key, timeout, proc):
        """Receives until a message with `key` arrives; returns that message."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(min(0.5, deadline - time.monotonic()))
            if message is not None and key in message:
                return message
            # Once the process is gone and its last datagrams are read, nothing more comes.
            if message is None and proc.poll() is not None:
                raise TestFailure(f"cityledgerd exited ({proc.returncode}) without sending {key}=; "
                                  f"received: {[m for _, m in self.received]}")
        raise TestFailure(f"no {key}= within {timeout} s; received: {[m for _, m in self.received]}")

    def close(self):
        self.sock.close()


def height_of(status):
    match = re.match(r"height (\d+),", status or "")
    return int(match.group(1)) if match else None


def run(args, workdir):
    p2p_port, rpc_port = args.base_port, args.base_port + 1
    for port in (p2p_port, rpc_port):
        check(port_is_free(port), f"port {port} is in use on 127.0.0.1 (another run of this test?)")
    home = os.path.join(workdir, "home")
    init = subprocess.run([args.bin, "init", "--home", home, "--chain-id", "notify-test", "--name", "v0",
                           "--p2p", f"127.0.0.1:{p2p_port}", "--rpc", f"127.0.0.1:{rpc_port}"],
                          capture_output=True, text=True, timeout=60)
    check(init.returncode == 0, f"cityledgerd init failed ({init.returncode}): {init.stderr}")
    set_config_value(os.path.join(home, "config.toml"), "block", "empty_interval_ms", 200)

    notify = NotifySocket(workdir)
    env = dict(os.environ)
    env["NOTIFY_SOCKET"] = notify.path
    # systemd sets WATCHDOG_PID too; without it the watchdog is for any pid.
    env["WATCHDOG_USEC"] = "1000000"
    env.pop("WATCHDOG_PID", None)
    log_path = os.path.join(workdir, "node.log")
    rpc_url = f"http://127.0.0.1:{rpc_port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([args.bin, "start", "--home", home], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, env=env, preexec_fn=_die_with_parent)
    try:
        started = time.monotonic()
        ready = notify.wait_for("READY", 60, proc)
        check(ready["READY"] == "1", f"READY={ready['READY']}")
        # The promise of READY=1: clients can talk to the node now.
        try:
            status = rpc_call(rpc_url, "status", timeout=5)
        except OSError as e:
            raise TestFailure(f"READY=1 arrived but the RPC does not answer: {e}")
        check(status.get("chain_id") == "notify-test", f"status right after READY=1: {status}")
        with urllib.request.urlopen(rpc_url + "/livez", timeout=5) as response:
            check(response.status == 200, f"/livez right after READY=1: HTTP {response.status}")
        check(height_of(ready.get("STATUS")) is not None, f"READY=1 without a STATUS= line: {ready}")
        print(f"READY=1 after {time.monotonic() - started:.2f} s, RPC answered: height {status['height']}")

        # STATUS= follows the height; WATCHDOG=1 every 0.5 s (half of 1 s).
        window_start = time.monotonic()
        pings, heights = 0, []
        while time.monotonic() - window_start < 4.0:
            message = notify.receive(0.5)
            check(proc.poll() is None, f"cityledgerd exited ({proc.returncode}) while running")
            if message is None:
                continue
            pings += message.get("WATCHDOG") == "1"
            h = height_of(message.get("STATUS"))
            if h is not None:
                heights.append(h)
        check(pings >= 5, f"{pings} WATCHDOG=1 pings in 4 s (expected about 8)")
        check(len(heights) >= 5 and heights[-1] > heights[0],
              f"STATUS= heights did not grow: {heights}")
        print(f"{pings} watchdog pings in 4 s; STATUS= heights {heights[0]} -> {heights[-1]}")

        proc.send_signal(signal.SIGTERM)
        stopping = notify.wait_for("STOPPING", 30, proc)
        check(stopping["STOPPING"] == "1", f"STOPPING={stopping['STOPPING']}")
        code = proc.wait(timeout=60)
        check(code == 0, f"cityledgerd exited with {code} after SIGTERM")
        print(f"STOPPING=1 ({stopping.get('STATUS')}), exit code 0")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        notify.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="cityledgerd")
    parser.add_argument("--base-port", type=int, required=True)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="cl_notify_")
    try:
        run(args, workdir)
    except Exception as e:  # report, with the node's log, and fail
        print(f"FAILED: {e}", file=sys.stderr)
        log_path = os.path.join(workdir, "node.log")
        if os.path.exists(log_path):
            print("---- node log (tail) ----", file=sys.stderr)
            print("".join(open(log_path, errors="replace").readlines()[-40:]), file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
