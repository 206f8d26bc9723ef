"""Mail checks: ``mail.mx_aaaa`` (and the address list ``mail.mx_reach`` probes).

Null MX (RFC 7505: a single ``0 .``) means the domain accepts no mail; no MX
at all means mail goes to the domain's own A/AAAA (RFC 5321 section 5.1).
"""

from __future__ import annotations

import asyncio

from v6scan.addresses import classify
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch

__all__ = ["check_mx", "mx_v6_targets"]


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
    ev["mx"] = list(await asyncio.gather(*(_host(ctx, p, h) for p, h in pairs)))
    return Observation("mail.mx_aaaa", domain, Status.OK, ev, None, sw.stop(), sw.started_at)


def mx_v6_targets(obs: Observation) -> list[tuple[str, str]]:
    """(MX host, IPv6 address) pairs that ``mail.mx_reach`` should probe (allowed addresses only)."""
    out = []
    for host in obs.evidence.get("mx", []):
        for row in host.get("aaaa", []):
            if row.get("usable"):
                out.append((str(host["host"]), str(row["address"])))
    return out
