#!/usr/bin/env python3
"""A TCP relay that delays every byte by a configurable latency with jitter,
keeping each direction's order: the latency fault of the netns tests, for
kernels without sch_netem (`tc qdisc ... netem`).

    delay_proxy.py --control FILE LISTEN_HOST:PORT=TARGET_HOST:PORT ...

Runs inside a validator's namespace (netns_fabric.Fabric.start_delay). The
namespace's nftables DNAT sends the node's connections to a peer to the
matching listen port, so every byte of a peer connection dialed from here
passes through this relay, both ways; with every node running one, each
connection between two validators is delayed once per direction.

FILE holds {"delay_ms": D, "jitter_ms": J}, re-read ten times a second: each
chunk is delivered D + uniform(-J, J) ms after it arrived, but never before
the chunk before it (so jitter reorders nothing, as on a real TCP path).
"""

import asyncio
import json
import random
import socket
import sys
import time

settings = {"delay_ms": 0.0, "jitter_ms": 0.0}
PROXY_MARK = 0x77  # netns_fabric's DNAT rule skips packets with this mark


async def watch(path):
    while True:
        try:
            with open(path) as f:
                settings.update(json.load(f))
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.1)


async def pipe(reader, writer):
    queue = asyncio.Queue()

    async def deliver():
        last = 0.0
        while True:
            due, data = await queue.get()
            if data is None:
                break
            due = max(due, last)
            last = due
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            d, j = settings["delay_ms"], settings["jitter_ms"]
            queue.put_nowait((time.monotonic() + max(0.0, d + random.uniform(-j, j)) / 1000.0, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((0, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


def relay(target_host, target_port):
    async def handle(client_reader, client_writer):
        try:
            # Marked, so the namespace's DNAT rule lets the relay's own
            # connection through instead of sending it back here.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, PROXY_MARK)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (target_host, target_port))
            server_reader, server_writer = await asyncio.open_connection(sock=sock)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer),
                             return_exceptions=True)
    return handle


async def main(argv):
    control = argv[argv.index("--control") + 1]
    mappings = [a for a in argv if "=" in a]
    servers = []
    for m in mappings:
        listen, target = m.split("=")
        lhost, lport = listen.rsplit(":", 1)
        thost, tport = target.rsplit(":", 1)
        servers.append(await asyncio.start_server(relay(thost, int(tport)), lhost, int(lport)))
    print("delay_proxy: ready", flush=True)
    await watch(control)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
