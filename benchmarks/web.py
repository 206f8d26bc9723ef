"""Web benchmark: HTTPS fetches/s over IPv6, our fetcher against a plain asyncio+ssl loop.

    .venv/bin/python -m benchmarks.web [--fetches 3000] [--concurrency 50]

Brings up a lab in scale mode and, in its client namespace, fetches
``https://sNNNNNN.<sector>.test/`` from the sites' IPv6 addresses:

* with :class:`v6scan.fetch.Fetcher` (httpcore; a new connection and TLS
  handshake per fetch, certificate and name verified, body decoded and capped);
* with a bare loop: ``asyncio.open_connection(ssl=...)``, write a GET, read to EOF.

Both use the same SSL context and the same targets in the same run; the ratio
is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from tests.lab import Lab
from tests.lab import scale as scale_mod
from tests.lab.netns import run_async_in_netns
from v6scan.fetch import Fetcher, Limits
from v6scan.model import Status

Job = tuple[str, str]  # (host name, IPv6 address)


def jobs(scale: int, count: int) -> list[Job]:
    healthy = [(h, scale_mod._v6(i)) for i, (h, *_) in enumerate(scale_mod.sites(scale))
               if scale_mod.behaviour(i) == "healthy"]
    return [healthy[i % len(healthy)] for i in range(count)]


async def run(work: list[Job], concurrency: int, one: Callable[[str, str], Awaitable[bool]]
              ) -> tuple[float, Counter[bool]]:
    it = iter(work)
    results: Counter[bool] = Counter()

    async def worker() -> None:
        for name, addr in it:
            results[await one(name, addr)] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(work) / (time.perf_counter() - t0), results


async def ours(work: list[Job], concurrency: int, ctx: ssl.SSLContext) -> tuple[float, Counter[bool]]:
    fetcher = Fetcher(ctx, Limits(connect=5, first_byte=5, body=10))

    async def one(name: str, addr: str) -> bool:
        page = await fetcher.get(f"https://{name}/", addr)
        return page.status is Status.OK and page.http_status == 200

    try:
        return await run(work, concurrency, one)
    finally:
        await fetcher.aclose()


async def raw(work: list[Job], concurrency: int, ctx: ssl.SSLContext) -> tuple[float, Counter[bool]]:
    async def one(name: str, addr: str) -> bool:
        reader, writer = await asyncio.open_connection(addr, 443, ssl=ctx, server_hostname=name)
        writer.write(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        return data.startswith(b"HTTP/1.1 200")

    return await run(work, concurrency, one)


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, default=1000)
    p.add_argument("--fetches", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    lab = Lab.up(scale=args.scale)
    try:
        ctx = ssl.create_default_context(cafile=str(lab.ca_file))
        ctx.set_alpn_protocols(["http/1.1"])
        work = jobs(args.scale, args.fetches)
        run_async_in_netns(lab.client, lambda: raw(work[:200], args.concurrency, ctx))  # warm-up
        rates: dict[str, list[float]] = {"raw": [], "ours": []}
        fails: Counter[str] = Counter()
        for _ in range(args.rounds):  # interleaved: this machine's speed drifts between runs
            for label, fn in (("raw", raw), ("ours", ours)):
                rate, ok = run_async_in_netns(lab.client, lambda fn=fn: fn(work, args.concurrency, ctx))
                rates[label].append(rate)
                fails[label] += ok[False]
        r_raw, r_ours = statistics.median(rates["raw"]), statistics.median(rates["ours"])
        print(f"fetches: {len(work)} over IPv6 per round, {args.rounds} rounds,"
              f" concurrency: {args.concurrency}")
        print(f"raw asyncio+ssl loop: {r_raw:8.0f} fetches/s (median; rounds {_fmt(rates['raw'])})"
              f"   failed={fails['raw']}")
        print(f"v6scan fetcher:       {r_ours:8.0f} fetches/s (median; rounds {_fmt(rates['ours'])})"
              f"   failed={fails['ours']}")
        print(f"ratio ours/raw: {r_ours / r_raw:.2f}")
    finally:
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
