"""Mail checks: ``mail.mx_aaaa`` (and the address list ``mail.mx_reach`` probes).

Null MX (RFC 7505: a single ``0 .``) means the domain accepts no mail; no MX
at all means mail goes to the domain's own A/AAAA (RFC 5321 section 5.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from v6scan.addresses import classify
from v6scan.attempts import retried
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch, cap_hit
from v6scan.net import classify_error, open_socket

__all__ = ["check_mx", "check_mx_reach", "mx_v6_targets"]


async def _host(ctx: Context, preference: int | None, host: str) -> dict[str, JSON]:
    aaaa, a = await asyncio.gather(ctx.lookup(host, "AAAA"), ctx.lookup(host, "A"))
    v6 = []
    for value in aaaa.values:
        row = classify(value).to_json()
        row["usable"] = ctx.policy.allows(value)
        v6.append(row)
    return {
        "preference": preference,
        "host": host,
        "aaaa_status": str(aaaa.status),
        "aaaa": v6,
        "a_status": str(a.status),
        "a": list(a.values),
        "usable_v6": [r["address"] for r in v6 if r["usable"]],
        "public_v6": [r["address"] for r in v6 if r["public"]],
        **({"error": aaaa.error} if aaaa.status not in (Status.OK, Status.NODATA) else {}),
    }


async def check_mx(ctx: Context, domain: str) -> Observation:
    sw = Stopwatch()
    mx = await ctx.lookup(domain, "MX")
    ev: dict[str, JSON] = {"domain": domain, "lookup": mx.to_json(), "null_mx": False,
                           "implicit_mx": False, "mx": []}
    if mx.status is Status.NODATA:
        ev["implicit_mx"] = True
        ev["mx"] = [await _host(ctx, None, domain)]
        return Observation("mail.mx_aaaa", domain, Status.OK, ev,
                           None, sw.stop(), sw.started_at)
    if mx.status is not Status.OK:
        return Observation("mail.mx_aaaa", domain, mx.status, ev, f"MX lookup: {mx.error}",
                           sw.stop(), sw.started_at)
    pairs: list[tuple[int, str]] = []
    for value in mx.values:
        pref, _, host = value.partition(" ")
        pairs.append((int(pref), host.rstrip(".")))
    pairs.sort()
    if any(host in ("", ".") for _, host in pairs):
        ev["null_mx"] = True
        if len(pairs) > 1:
            ev["null_mx_invalid"] = "a null MX must be the only MX record (RFC 7505)"
        pairs = [(p, h) for p, h in pairs if h not in ("", ".")]
    entries = {h: e for _, h in pairs if (e := ctx.excluded(h)) is not None}
    excluded = [{"host": h, "preference": p, "entry": entries[h]} for p, h in pairs if h in entries]
    pairs = [(p, h) for p, h in pairs if h not in entries]
    cap = ctx.settings.max_mx_hosts
    if len(pairs) > cap:  # the most preferred ones
        ev["caps_hit"] = [cap_hit("max_mx_hosts", cap, len(pairs))]
    if excluded:
        ev["excluded"] = excluded
    ev["mx"] = list(await asyncio.gather(*(_host(ctx, p, h) for p, h in pairs[:cap])))
    if excluded and not ev["mx"] and not ev["null_mx"]:
        return Observation("mail.mx_aaaa", domain, Status.EXCLUDED, ev, "every MX host is on the exclusion list:"
                           " not contacted", sw.stop(), sw.started_at)
    return Observation("mail.mx_aaaa", domain, Status.OK, ev, None, sw.stop(), sw.started_at)


def mx_v6_targets(obs: Observation, per_host: int = 16) -> list[tuple[str, str]]:
    """(MX host, IPv6 address) pairs that ``mail.mx_reach`` should probe (allowed addresses only, at
    most ``per_host`` of each host)."""
    out = []
    for host in obs.evidence.get("mx", []):
        usable = [row for row in host.get("aaaa", []) if row.get("usable")]
        out += [(str(host["host"]), str(row["address"])) for row in usable[:per_host]]
    return out


_TRANSIENT_SMTP = ("timeout", str(Status.UNREACHABLE), str(Status.ERROR))


async def _smtp(address: str, timeout: float) -> dict[str, JSON]:
    """Connect to port 25, read the greeting, EHLO, QUIT."""
    t0 = time.perf_counter()
    row: dict[str, JSON] = {"address": address}
    writer: asyncio.StreamWriter | None = None
    step = "connect"
    try:
        sock = await open_socket(address, 25, timeout)
        reader, writer = await asyncio.open_connection(sock=sock, limit=16384)
        step = "greeting"
        async with asyncio.timeout(timeout):
            banner = await _reply(reader)
        row["banner"] = banner[-1][:200] if banner else ""
        if not banner or not banner[-1].startswith("220"):
            row.update(status="bad_greeting", step=step)
            return row
        step = "ehlo"
        writer.write(b"EHLO v6scan.invalid\r\n")
        async with asyncio.timeout(timeout):
            ehlo = await _reply(reader)
        row["ehlo"] = [x[4:][:80] for x in ehlo][:20]
        if not ehlo or not ehlo[-1].startswith("250"):
            row.update(status="bad_ehlo", step=step)
            return row
        writer.write(b"QUIT\r\n")
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(timeout):
                await _reply(reader)
        row.update(status="greets")
    except TimeoutError:
        row.update(status="silent" if step != "connect" else "timeout", step=step)
    except (OSError, ValueError) as e:
        status, reason = classify_error(e)
        row.update(status=str(status), step=step, error=reason)
    finally:
        if writer is not None:
            writer.close()
        row["elapsed_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return row


async def _reply(reader: asyncio.StreamReader) -> list[str]:
    """One SMTP reply: lines up to the one with a space after the code (at most 50 lines)."""
    lines: list[str] = []
    while len(lines) < 50:
        raw = await reader.readline()
        if not raw:
            break
        line = raw.decode("latin-1").rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            break
    return lines


async def check_mx_reach(ctx: Context, mx: Observation) -> Observation:
    """``mail.mx_reach``: SMTP over IPv6 on every usable MX address (greeting, EHLO, QUIT)."""
    sw = Stopwatch()
    cap = ctx.settings.max_addresses
    targets = mx_v6_targets(mx, cap)
    ev: dict[str, JSON] = {"null_mx": mx.evidence.get("null_mx", False), "servers": []}
    over = [cap_hit("max_addresses", cap, n, family="v6", host=h["host"]) for h in mx.evidence.get("mx", [])
            if (n := sum(1 for r in h.get("aaaa", []) if r.get("usable"))) > cap]
    if over:
        ev["caps_hit"] = over
    if mx.evidence.get("implicit_mx"):
        return Observation("mail.mx_reach", mx.target, Status.SKIPPED, ev,
                           "the domain publishes no MX: no mail service to test", sw.stop(), sw.started_at)
    if not targets:
        why = ("no MX host has a usable IPv6 address" if mx.status is Status.OK else
               "every MX host is on the exclusion list" if mx.status is Status.EXCLUDED else f"MX lookup: {mx.status}")
        return Observation("mail.mx_reach", mx.target, Status.SKIPPED, ev, why, sw.stop(), sw.started_at)

    async def once(addr: str) -> dict[str, JSON]:
        async with ctx.slot(addr):
            return await _smtp(addr, ctx.settings.timeout)

    async def one(host: str, addr: str) -> dict[str, JSON]:
        # a connect that timed out, was unreachable or broke is tried again; a server that
        # connected and said nothing (silent) or something wrong has answered
        row, n = await retried(lambda: once(addr), lambda r: Status.OK, ctx.settings.retry,
                               transient=lambda r: r.get("status") in _TRANSIENT_SMTP)
        return {"host": host, **row, "attempts": n, "successes": int(row.get("status") == "greets")}

    rows = list(await asyncio.gather(*(one(h, a) for h, a in targets)))
    ev["servers"] = rows
    ev["not_greeting"] = [f"{r['host']} {r['address']}" for r in rows if r.get("status") != "greets"]
    return Observation("mail.mx_reach", mx.target, Status.OK, ev, None, sw.stop(), sw.started_at)
