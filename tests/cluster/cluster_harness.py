"""Harness for the cluster tests: real `cityledgerd` processes on 127.0.0.1.

Standard library only. A `Cluster` creates a network with `cityledgerd
testnet`, starts and stops validators, talks JSON-RPC to them and waits for
conditions under a deadline. Every process it starts is killed when the test
ends, however it ends: `Cluster.close()` (called from `with`), an atexit hook,
and PR_SET_PDEATHSIG so a node dies with the test process even if that one is
SIGKILLed (e.g. by a CTest timeout).

Each node's stderr goes to `<workdir>/node<i>.log` (appended across restarts);
`Cluster.log_tails()` returns the end of every log for failure reports.
"""

import atexit
import base64
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

# Every process started by any Cluster, killed at exit whatever happens.
_ALL_PROCESSES = []


def _kill_all_processes():
    for proc in _ALL_PROCESSES:
        if proc.poll() is None:
            proc.kill()
    for proc in _ALL_PROCESSES:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


atexit.register(_kill_all_processes)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class TestFailure(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def prepare_workdir(workdir, prefix):
    """`workdir` emptied and created, or a new temporary directory when it is
    None; returns the path."""
    if not workdir:
        return tempfile.mkdtemp(prefix=prefix)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    return workdir


def report_failure(what, error, cluster, workdir, log_lines=40):
    """Prints why `what` failed (a failed check or a harness error), the
    traceback and the tail of every node's log, and where the work directory
    was kept."""
    kind = "FAILED" if isinstance(error, TestFailure) else "ERROR"
    print(f"\n{kind}: {what}: {error}\n", flush=True)
    traceback.print_exc(file=sys.stdout)
    print("\n" + cluster.log_tails(log_lines), flush=True)
    print(f"\nwork directory kept: {workdir}", flush=True)


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RpcError(Exception):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, error):
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error


def rpc_call(url, method, params=None, timeout=10.0):
    """One JSON-RPC 2.0 call over HTTP. Raises OSError (incl. URLError) when the
    node cannot be reached, RpcError when it answers with an error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    request = urllib.request.Request(url + "/", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise RpcError(reply["error"])
    return reply["result"]


class WebSocket:
    """A small RFC 6455 client, enough to follow the node's subscriptions
    (docs/rpc.md, "WebSocket"): text messages out (masked, as a client must),
    messages in (fragmented or not), the server's pings answered. Python's
    standard library has no WebSocket client."""

    def __init__(self, rpc_url, timeout=10.0):
        parts = urllib.parse.urlsplit(rpc_url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.pending = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.pending:
            self._fill()
        head, self.pending = self.pending.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise OSError(f"WebSocket handshake refused: {lines[0]}")
        expected = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if headers.get("sec-websocket-accept") != expected:
            raise OSError(f"WebSocket handshake: wrong Sec-WebSocket-Accept in {headers}")

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise OSError("the server closed the WebSocket connection")
        self.pending += chunk

    def _take(self, n):
        while len(self.pending) < n:
            self._fill()
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def _send_frame(self, opcode, payload):
        n = len(payload)
        if n < 126:
            header = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_json(self, value):
        self._send_frame(0x1, json.dumps(value).encode())

    def recv_json(self, timeout):
        """The next message, parsed; socket.timeout when none arrives in time."""
        self.sock.settimeout(timeout)
        message = b""
        while True:
            b0, b1 = self._take(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._take(2), "big")
            elif n == 127:
                n = int.from_bytes(self._take(8), "big")
            mask = self._take(4) if b1 & 0x80 else None
            payload = self._take(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:  # pong
                continue
            if opcode == 0x8:
                raise OSError(f"the server closed the WebSocket: {payload[2:].decode(errors='replace')}")
            message += payload
            if b0 & 0x80:
                return json.loads(message)

    def close(self):
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


def set_config_value(config_path, section, key, value):
    """Replaces `key = ...` inside `[section]` of a config.toml written by
    `cityledgerd testnet`. The key must already exist (so a typo fails here
    instead of being an unknown key at start-up). `value` is a Python int or
    str, written as TOML."""
    text = open(config_path).read()
    literal = str(value) if isinstance(value, int) else "'" + value + "'"
    lines = text.splitlines(keepends=True)
    current = None
    for i, line in enumerate(lines):
        header = re.match(r"\s*\[([^\]]+)\]\s*$", line)
        if header:
            current = header.group(1).strip()
            continue
        if current == section and re.match(r"\s*" + re.escape(key) + r"\s*=", line):
            lines[i] = f"{key} = {literal}\n"
            open(config_path, "w").write("".join(lines))
            return
    raise TestFailure(f"{config_path}: no key {key} in [{section}]")


def make_testnet(binary, directory, validators, base_port):
    """Runs `cityledgerd testnet --json` (default chain id); returns its
    parsed description."""
    command = [binary, "testnet", "--validators", str(validators), "--dir", directory,
               "--base-port", str(base_port), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    check(result.returncode == 0, f"testnet failed ({result.returncode}): {result.stderr}")
    return json.loads(result.stdout)


class Node:
    """One validator home and, while running, its process."""

    def __init__(self, name, home, rpc_url, p2p, log_path):
        self.name = name
        self.home = home
        self.rpc_url = rpc_url
        self.p2p = p2p
        self.log_path = log_path
        self.proc = None
        self.expected_exit = False  # set when the test kills/stops it on purpose
        self.wrapper = []  # command prefix, e.g. ["ip", "netns", "exec", NS] (tests/cluster/netns)
        self.binary = None  # overrides the cluster's binary, e.g. cityledgerd_byzantine (tests/byzantine)
        self.extra_args = []  # appended to `start --home HOME`, e.g. ["--byzantine", "all"]

    @property
    def config_path(self):
        return os.path.join(self.home, "config.toml")

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """A set of nodes (usually one testnet) plus process and RPC helpers."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.nodes = []

    # ------------------------------------------------------------ set-up

    def add_testnet(self, directory_name, validators, base_port, empty_interval_ms=300):
        """Creates a testnet under workdir, tunes every node's config and
        returns the new Node objects (also appended to self.nodes)."""
        ports = [base_port + 10 * i + d for i in range(validators) for d in (0, 1)]
        busy = [p for p in ports if not port_is_free(p)]
        check(not busy, f"ports already in use on 127.0.0.1: {busy} (another run of this test?)")
        description = make_testnet(self.binary, os.path.join(self.workdir, directory_name),
                                   validators, base_port)
        added = []
        for i, entry in enumerate(description["nodes"]):
            name = f"{directory_name}/node{i}"
            log_path = os.path.join(self.workdir, f"{directory_name}_node{i}.log")
            node = Node(name, entry["home"], entry["rpc"], entry["p2p"], log_path)
            set_config_value(node.config_path, "block", "empty_interval_ms", empty_interval_ms)
            added.append(node)
        self.nodes.extend(added)
        return added

    # ------------------------------------------------------------ processes

    def start(self, node):
        check(not node.running(), f"{node.name} is already running")
        log = open(node.log_path, "ab")
        log.write(f"===== harness: starting {node.name} at {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        node.expected_exit = False
        command = [node.binary or self.binary, "start", "--home", node.home] + node.extra_args
        node.proc = subprocess.Popen(node.wrapper + command,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     preexec_fn=_die_with_parent)
        log.close()  # the child holds its own descriptor
        _ALL_PROCESSES.append(node.proc)

    def kill(self, node):
        """SIGKILL: a crash, no clean-up in the node."""
        check(node.running(), f"{node.name} is not running")
        node.expected_exit = True
        node.proc.kill()
        node.proc.wait(timeout=30)

    def stop(self, node, timeout=60):
        """SIGTERM one node; fails unless it exits cleanly (code 0) in time."""
        check(node.running(), f"{node.name} is not running")
        node.expected_exit = True
        node.proc.send_signal(signal.SIGTERM)
        try:
            code = node.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            raise TestFailure(f"{node.name} did not stop within {timeout} s of SIGTERM")
        check(code == 0, f"{node.name} exited with code {code} after SIGTERM")

    def stop_all_checked(self, timeout=60):
        """SIGTERM every running node at once; fails unless each exits with
        code 0 within `timeout` (a clean shutdown; under ASan a leak report
        also makes the exit code non-zero)."""
        running = [node for node in self.nodes if node.running()]
        for node in running:
            node.expected_exit = True
            node.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes = {}
        for node in running:
            try:
                codes[node.name] = node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(timeout=30)
                codes[node.name] = None
        bad = {name: code for name, code in codes.items() if code != 0}
        check(not bad, f"nodes did not stop cleanly on SIGTERM (exit codes, None = still running "
                       f"after {timeout} s): {bad}")

    def close(self):
        for node in self.nodes:
            if node.running():
                node.expected_exit = True
                node.proc.kill()
                node.proc.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def check_alive(self):
        """Fails at once if a node the test did not stop has exited."""
        for node in self.nodes:
            if node.proc is not None and not node.expected_exit and node.proc.poll() is not None:
                raise TestFailure(f"{node.name} exited unexpectedly with code {node.proc.returncode}")

    # ------------------------------------------------------------ RPC

    def rpc(self, node, method, params=None, timeout=10.0):
        return rpc_call(node.rpc_url, method, params, timeout)

    def status(self, node):
        """status result, or None while the node cannot be reached."""
        try:
            return self.rpc(node, "status")
        except (OSError, RpcError, ValueError):
            return None

    def height(self, node):
        s = self.status(node)
        return None if s is None else s["height"]

    def block_hash(self, node, height):
        return self.rpc(node, "get_block", {"height": height})["hash"]

    # ------------------------------------------------------------ waiting

    def wait_until(self, what, predicate, timeout, interval=0.25):
        """Polls predicate() until it returns a truthy value (returned) or the
        deadline passes (TestFailure naming `what` and the last value seen).
        Also fails early when a node dies unexpectedly."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            self.check_alive()
            last = predicate()
            if last:
                return last
            if time.monotonic() >= deadline:
                raise TestFailure(f"timed out after {timeout:.0f} s waiting for: {what} (last: {last!r})")
            time.sleep(interval)

    def wait_heights(self, nodes, minimum, timeout):
        """Waits until every node in `nodes` reports height >= minimum."""
        def heights():
            hs = {n.name: self.height(n) for n in nodes}
            return hs if all(h is not None and h >= minimum for h in hs.values()) else False
        return self.wait_until(f"height >= {minimum} on {[n.name for n in nodes]}", heights, timeout)

    def heights(self, nodes):
        return {n.name: self.height(n) for n in nodes}

    # ------------------------------------------------------------ checks

    def check_same_blocks(self, nodes, up_to):
        """Block hash at every height 1..up_to is identical on all `nodes`."""
        for h in range(1, up_to + 1):
            hashes = {n.name: self.block_hash(n, h) for n in nodes}
            check(len(set(hashes.values())) == 1, f"block hashes differ at height {h}: {hashes}")

    def log_text(self, node):
        try:
            with open(node.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tails(self, lines=40):
        out = []
        for node in self.nodes:
            tail = self.log_text(node).splitlines()[-lines:]
            out.append(f"----- last {len(tail)} lines of {node.log_path} -----")
            out.extend(tail)
        return "\n".join(out)
