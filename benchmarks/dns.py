"""DNS benchmark: our resolver layer against dnsperf, on the lab's scale-mode names.

    .venv/bin/python -m benchmarks.dns [--scale 20000] [--concurrency 500]

Brings up a lab with N generated names, then in the lab's client namespace:

1. a cold pass (Unbound iterates from the lab root) with :class:`v6scan.resolver.Resolver`;
2. a warm pass with a fresh resolver (no c-ares cache) over the same names;
3. the warm pass split over ``--procs`` processes (the machine has 2 cores);
4. dnsperf over the same AAAA queries against the same (now warm) Unbound.

Prints lookups/s for each and the warm ratios ours/dnsperf.  Needs root and
the dnsperf package (``apt-get install dnsperf``).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.lab import Lab
from tests.lab import scale as scale_mod
from tests.lab.netns import run_async_in_netns
from v6scan.resolver import Resolver


async def resolve_all(server: str, names: list[str], concurrency: int) -> tuple[float, Counter[str]]:
    """Resolve every name (AAAA) with ``concurrency`` workers; return (lookups/s, statuses)."""
    resolver = Resolver((server,), timeout=2.0, retries=2)
    statuses: Counter[str] = Counter()
    it = iter(names)

    async def worker() -> None:
        for name in it:
            statuses[str((await resolver.query(name, "AAAA")).status)] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    await resolver.close()
    return len(names) / elapsed, statuses


def sharded(lab: Lab, server: str, names: list[str], concurrency: int, procs: int) -> float:
    """The same, split over ``procs`` processes (one event loop each) in the client namespace."""
    nfile = lab.directory / "names.txt"
    nfile.write_text("\n".join(names) + "\n")
    cmd = ["ip", "netns", "exec", lab.client, sys.executable, "-m", "benchmarks.dns", "--worker",
           str(nfile), server, str(concurrency // procs), str(procs)]
    t0 = time.perf_counter()
    workers = [subprocess.Popen([*cmd, str(i)], stdout=subprocess.PIPE, text=True) for i in range(procs)]
    done = sum(int(w.communicate()[0].split()[0]) for w in workers)
    return done / (time.perf_counter() - t0)


def _worker(nfile: str, server: str, concurrency: int, procs: int, index: int) -> None:
    names = Path(nfile).read_text().split()[index::procs]
    asyncio.run(resolve_all(server, names, concurrency))
    print(len(names))


def dnsperf(lab: Lab, server: str, names: list[str], concurrency: int) -> float:
    qfile = lab.directory / "queries.txt"
    qfile.write_text("".join(f"{n} AAAA\n" for n in names))
    proc = lab.exec(["dnsperf", "-s", server, "-d", str(qfile), "-n", "1", "-q", str(concurrency),
                     "-t", "5"], timeout=600)
    m = re.search(r"Queries per second:\s+([\d.]+)", proc.stdout)
    if not m:
        raise SystemExit(f"dnsperf failed:\n{proc.stdout}\n{proc.stderr}")
    return float(m.group(1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--procs", type=int, default=2, help="processes for the sharded pass")
    p.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        f, server, conc, procs, index = args.worker
        _worker(f, server, int(conc), int(procs), int(index))
        return
    if shutil.which("dnsperf") is None:
        raise SystemExit("dnsperf is not installed: apt-get install dnsperf")
    lab = Lab.up(scale=args.scale)
    try:
        names = [h for h, *_ in scale_mod.sites(args.scale)]
        server = lab.resolver[0]
        cold, st_cold = run_async_in_netns(
            lab.client, lambda: resolve_all(server, names, args.concurrency))
        warm, st_warm = run_async_in_netns(
            lab.client, lambda: resolve_all(server, names, args.concurrency))
        multi = sharded(lab, server, names, args.concurrency, args.procs)
        perf = dnsperf(lab, server, names, args.concurrency)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"names: {len(names)}   concurrency: {args.concurrency}")
        print(f"v6scan resolver, cold Unbound cache: {cold:10.0f} lookups/s   {dict(st_cold)}")
        print(f"v6scan resolver, warm Unbound cache: {warm:10.0f} lookups/s   {dict(st_warm)}")
        print(f"v6scan resolver, warm, {args.procs} processes: {multi:8.0f} lookups/s")
        print(f"dnsperf,         warm Unbound cache: {perf:10.0f} queries/s")
        print(f"ratio ours/dnsperf: one process {warm / perf:.2f}, {args.procs} processes {multi / perf:.2f}"
              f"   peak RSS of the benchmark process: {rss:.0f} MiB")
    finally:
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
