"""A network made for one test: a Linux bridge and one network namespace per
validator, each with its own address, plus fault injection (nftables) inside
the namespaces. Everything it creates carries the test's tag in its name and
is removed by destroy(), on success, on failure, at exit and on SIGTERM;
create() first removes leftovers with the same names from an earlier run that
was killed with SIGKILL.

    fabric = Fabric(tag="31700", count=4)
    fabric.create()
    fabric.exec_prefix(2)          # ["ip", "netns", "exec", "cln31700-2"]
    fabric.partition([[0, 1, 2], [3]])
    fabric.loss(20, nodes=[0, 1])
    fabric.heal()
    fabric.destroy()

Faults live in an nftables table `inet clfault` in each namespace: a set of
blocked peer addresses (partitions, both directions) and a chain for random
loss (`numgen random`). Traffic to and from the host side of the bridge (the
test's RPC calls) is never touched.

Delay and jitter: `tc qdisc ... netem` needs the kernel's sch_netem, which
this project's CI machines lack, so latency is
injected by a relay in each namespace instead (start_delay(), delay();
delay_proxy.py): nftables DNAT sends every peer connection through it.
"""

import atexit
import fcntl
import json
import os
import signal
import subprocess
import sys

_LIVE = []


def run(*args, check=True, input=None):
    r = subprocess.run(list(args), capture_output=True, text=True, input=input, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def usable():
    """(True, "") when this process may create namespaces and nftables
    tables; otherwise (False, why)."""
    if os.geteuid() != 0:
        return False, "not running as root"
    for tool in ("ip", "nft"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            return False, f"{tool} is not installed (scripts/deps.sh installs iproute2 and nftables)"
    probe = "clprobe%d" % (os.getpid() % 100000)
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "ip netns add failed: " + r.stderr.strip()
    try:
        r = subprocess.run(["ip", "netns", "exec", probe, "nft", "add", "table", "inet", "t"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return False, "nftables does not work in a namespace: " + r.stderr.strip()
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return True, ""


class Fabric:
    def __init__(self, tag, count):
        self.tag = str(tag)
        self.count = count
        # One /24 per tag, so tests running at once never share addresses.
        third = (int(self.tag) // 100) % 250 if self.tag.isdigit() else abs(hash(self.tag)) % 250
        self.subnet = f"10.213.{third}"
        self.host_ip = f"{self.subnet}.1"
        self.bridge = f"clbr{self.tag}"[:15]
        self.namespaces = [f"cln{self.tag}-{i}" for i in range(count)]
        self.ips = [f"{self.subnet}.{10 + i}" for i in range(count)]
        self.veths = [f"clv{self.tag}x{i}"[:15] for i in range(count)]
        self.created = False
        self.proxies = []
        self.control_path = None
        self.lock = None

    # ---------------------------------------------------------------- life

    def create(self):
        # One run per tag at a time: a lock held while the fabric lives. Held
        # by another process: refuse (its namespaces are live, not
        # leftovers). Free: whatever carries our names is a killed run's.
        self.lock = open(f"/tmp/cityledger-netns-{self.tag}.lock", "w")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock.close()
            self.lock = None
            raise RuntimeError(f"another run is using namespaces {self.namespaces[0]}..{self.namespaces[-1]} "
                               f"(lock /tmp/cityledger-netns-{self.tag}.lock): use another --base-port")
        self.destroy(quiet=True)  # leftovers of a SIGKILLed run
        _LIVE.append(self)
        self.created = True
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for ns, ip, veth in zip(self.namespaces, self.ips, self.veths):
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            run("ip", "link", "set", veth, "master", self.bridge)
            run("ip", "link", "set", veth, "up")
            run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            self.nft(ns, f"""
table inet clfault {{
  set blocked {{ type ipv4_addr; }}
  chain loss {{ }}
  chain input {{ type filter hook input priority 0; policy accept;
    ip saddr @blocked drop
  }}
  chain output {{ type filter hook output priority 0; policy accept;
    ip daddr @blocked drop
    ip daddr != {self.host_ip} jump loss
  }}
}}
""")

    def start_delay(self, p2p_ports, control_path):
        """Puts a delay relay (delay_proxy.py) in front of every peer
        connection: in namespace i, connections to peer j's p2p address are
        DNATed to a relay at ips[i]:p2p_ports[j]+5, which forwards them
        with the latency set by delay(). Call before the nodes start: only
        new connections pass through a relay."""
        self.control_path = control_path
        self.delay(0, 0)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delay_proxy.py")
        for i, ns in enumerate(self.namespaces):
            maps = [f"{self.ips[i]}:{p2p_ports[j] + 5}={self.ips[j]}:{p2p_ports[j]}"
                    for j in range(self.count) if j != i]
            proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, script, "--control", control_path]
                                    + maps, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            self.proxies.append(proc)
            line = proc.stdout.readline()
            if "ready" not in line:
                raise RuntimeError(f"delay relay in {ns} did not start: {line}{proc.stdout.read()}")
            rules = "\n".join(f"    meta mark != 0x77 ip daddr {self.ips[j]} tcp dport {p2p_ports[j]} "
                              f"dnat to {self.ips[i]}:{p2p_ports[j] + 5}"
                              for j in range(self.count) if j != i)
            self.nft(ns, f"""
table ip clnat {{
  chain output {{ type nat hook output priority -100; policy accept;
{rules}
  }}
}}
""")

    def delay(self, delay_ms, jitter_ms):
        """Latency (with jitter) on every peer connection; needs start_delay()."""
        tmp = self.control_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"delay_ms": delay_ms, "jitter_ms": jitter_ms}, f)
        os.replace(tmp, self.control_path)

    def destroy(self, quiet=False):
        if self.lock is None:
            return  # never created (or refused): the names may be another run's
        for proc in self.proxies:
            proc.kill()
            proc.wait(timeout=30)
        self.proxies = []
        for ns in self.namespaces:
            run("ip", "netns", "del", ns, check=False)  # takes its end of the veth pair, and so both
        for veth in self.veths:
            run("ip", "link", "del", veth, check=False)
        run("ip", "link", "del", self.bridge, check=False)
        if self in _LIVE:
            _LIVE.remove(self)
        self.created = False
        if self.lock and not quiet:
            self.lock.close()  # releases the flock
            self.lock = None

    def __enter__(self):
        self.create()
        return self

    def __exit__(self, *exc):
        self.destroy()

    # ---------------------------------------------------------------- use

    def exec_prefix(self, i):
        return ["ip", "netns", "exec", self.namespaces[i]]

    def nft(self, ns, script):
        run("ip", "netns", "exec", ns, "nft", "-f", "-", input=script)

    def partition(self, groups):
        """Nodes in different groups cannot reach each other (both ways)."""
        group_of = {i: g for g, members in enumerate(groups) for i in members}
        for i, ns in enumerate(self.namespaces):
            others = [self.ips[j] for j in range(self.count) if group_of.get(j) != group_of.get(i)]
            script = "flush set inet clfault blocked\n"
            if others:
                script += "add element inet clfault blocked { " + ", ".join(others) + " }\n"
            self.nft(ns, script)

    def loss(self, percent, nodes=None):
        """Drop `percent`% of the packets the nodes send to their peers."""
        for i in (range(self.count) if nodes is None else nodes):
            self.nft(self.namespaces[i], "flush chain inet clfault loss\n"
                     f"add rule inet clfault loss numgen random mod 100 < {int(percent)} drop\n")

    def heal(self):
        for ns in self.namespaces:
            self.nft(ns, "flush set inet clfault blocked\nflush chain inet clfault loss\n")
        if self.control_path:
            self.delay(0, 0)


def _destroy_all():
    for fabric in list(_LIVE):
        fabric.destroy()


atexit.register(_destroy_all)


def _on_term(signum, frame):
    _destroy_all()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)
