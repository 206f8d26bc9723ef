"""``v6scan serve`` under load, on loopback: how fast the API answers while the server sweeps.

    .venv/bin/python -m benchmarks.serve [--targets 2000] [--reads 300]

The server runs in a child process as ``v6scan serve`` runs (uvicorn in the engine's uvloop event
loop, on 127.0.0.1), its scanning replaced by a stand-in that takes 200 ms a target and sends
nothing, so what is measured is the service: the store, the jobs, the requests.  A sweep of
``--targets`` names is submitted, then ``--reads`` reads of its progress and as many health checks
are timed while it runs; then a check's round trip (submit, long-poll, outcomes) after the sweep.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

import v6scan.engine as engine
import v6scan.sweep as sweep
from v6scan import eventloop
from v6scan.engine import TargetResult
from v6scan.model import Observation, Status
from v6scan.serve.app import create_app
from v6scan.serve.auth import Tokens
from v6scan.serve.config import ServerConfig
from v6scan.settings import Settings
from v6scan.targets import NameExclusions, Target

__all__ = ["main"]

TOKEN = "bench-token-0123456789abcdef"  # noqa: S105  # a loopback server of this run only


async def _stand_in(ctx: Any, target: Target) -> TargetResult:
    await asyncio.sleep(0.2)
    obs = [Observation("dns.resolve", target.name, Status.OK, {"a": {}, "aaaa": {"records": ["2001:db8::1"]}}),
           Observation("dns.aaaa", target.name, Status.OK, {"addresses": [], "usable": ["2001:db8::1"]})]
    return TargetResult(target, [target.name], obs)


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


def _server(port: int, db: str) -> None:
    """The child: ``v6scan serve`` with the stand-in scan."""
    setattr(engine, "scan_target", _stand_in)  # noqa: B010  # the stand-in, in this child only
    setattr(sweep, "scan_target", _stand_in)  # noqa: B010
    config = ServerConfig(db=Path(db), settings=Settings(self_check_enabled=False), excluded=NameExclusions(()),
                          tokens=Tokens({"bench": TOKEN}), rate_per_minute=100_000)
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, lifespan="on",
                                           log_config=None))
    eventloop.run(server.serve())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--targets", type=int, default=2000)
    p.add_argument("--reads", type=int, default=300)
    p.add_argument("--server", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.server:
        _server(int(args.server[0]), args.server[1])
        return
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        url = f"http://127.0.0.1:{port}"
        child = subprocess.Popen([sys.executable, "-m", "benchmarks.serve", "--server", str(port), f"{tmp}/bench.db"])
        try:
            _client(url, args.targets, args.reads)
        finally:
            child.terminate()
            child.wait(30)


def _client(url: str, targets: int, n_reads: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/api/v1/health")
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c:
        body = "".join(f"site{i}.example\n" for i in range(targets)).encode()
        t0 = time.perf_counter()
        sid = c.post("/api/v1/sweeps", params={"checks": "dns.aaaa"}, content=body).json()["id"]
        submit = time.perf_counter() - t0
        reads: list[float] = []
        health: list[float] = []
        during = 0
        for _ in range(n_reads):
            t = time.perf_counter()
            info = c.get(f"/api/v1/sweeps/{sid}").json()
            reads.append(time.perf_counter() - t)
            t = time.perf_counter()
            c.get("/api/v1/health")
            health.append(time.perf_counter() - t)
            during += info["status"] == "running"
            time.sleep(0.01)
        while c.get(f"/api/v1/sweeps/{sid}", params={"wait": 30}).json()["status"] == "running":
            pass
        swept = time.perf_counter() - t0
        t = time.perf_counter()
        cid = c.post("/api/v1/checks", json={"names": ["a.example"]}).json()["id"]
        c.get(f"/api/v1/checks/{cid}/outcomes", params={"wait": 30})
        check = time.perf_counter() - t
    print(f"| `v6scan serve`, a sweep of {targets:,} targets (stand-in scan, 200 ms each, 64 at once) | |")
    print("|---|---|")
    print(f"| submit (list stored, sweep queued) | {submit * 1000:.0f} ms |")
    print(f"| progress reads during the sweep ({during} of {n_reads} while it ran): p50 / p99 / max |"
          f" {_pct(reads, .5):.1f} / {_pct(reads, .99):.1f} / {max(reads) * 1000:.1f} ms |")
    print(f"| health during the sweep: p50 / p99 / max | {_pct(health, .5):.1f} / {_pct(health, .99):.1f} /"
          f" {max(health) * 1000:.1f} ms (mean {statistics.mean(health) * 1000:.1f}) |")
    print(f"| the sweep, submitted to finished | {swept:.1f} s |")
    print(f"| a check after it: submit, long poll, outcomes | {check * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
