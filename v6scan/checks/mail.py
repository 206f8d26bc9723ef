"""What the mail checks measure: the domain's MX hosts and their addresses (:func:`mx_lookup`,
shared by ``mail.mx_aaaa`` and ``mail.mx_reach``) and the SMTP dialogue (:func:`smtp`).

Null MX (RFC 7505: a single ``0 .``) means the domain accepts no mail; no MX
at all means mail goes to the domain's own A/AAAA (RFC 5321 section 5.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from v6scan.addresses import classify
from v6scan.checks.base import Evidence, Row, Run, optional
from v6scan.checks.dns import AddressRow
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch, cap_hit, now_iso
from v6scan.net import classify_error, open_socket

__all__ = ["TRANSIENT_SMTP", "MxEvidence", "MxExcluded", "MxHost", "MxLookup", "find_mx", "mx_lookup", "mx_v6_targets",
           "smtp"]


@dataclass(frozen=True, kw_only=True)
class MxHost(Row):
    """One MX host (or the domain itself, for an implicit MX): its AAAA and A records."""

    #: the MX preference (None: an implicit MX)
    preference: int | None = None
    host: str = ""
    aaaa_status: str = ""
    #: its AAAA addresses, classified, each usable or not (the scanner may use it)
    aaaa: tuple[AddressRow, ...] = ()
    a_status: str = ""
    a: tuple[str, ...] = ()
    usable_v6: tuple[str, ...] = ()
    public_v6: tuple[str, ...] = ()
    #: why the AAAA lookup failed (not written for ok or nodata)
    error: str | None = optional()

    @classmethod
    def build(cls, *, preference: int | None, host: str, aaaa_status: str, aaaa: Sequence[AddressRow],
              a_status: str, a: Sequence[str], error: str | None = None) -> Self:
        """The host, ``usable_v6`` and ``public_v6`` read from its AAAA rows."""
        return cls(preference=preference, host=host, aaaa_status=aaaa_status, aaaa=tuple(aaaa),
                   a_status=a_status, a=tuple(a), usable_v6=tuple(r.address for r in aaaa if r.usable),
                   public_v6=tuple(r.address for r in aaaa if r.public), error=error)


@dataclass(frozen=True, kw_only=True)
class MxExcluded(Row):
    """An MX host on the exclusion list: never looked up."""

    host: str = ""
    preference: int = 0
    entry: str = ""


@dataclass(frozen=True, kw_only=True)
class MxEvidence(Evidence):
    """The evidence of ``mail.mx_aaaa``: the MX lookup and each MX host's addresses."""

    domain: str = ""
    #: the MX lookup (resolver.Answer.to_json)
    lookup: Mapping[str, JSON] = field(default_factory=dict)
    #: the domain accepts no mail (RFC 7505)
    null_mx: bool = False
    #: no MX record: mail goes to the domain's own addresses (RFC 5321 section 5.1)
    implicit_mx: bool = False
    #: the MX hosts, most preferred first, at most ``max_mx_hosts``
    mx: tuple[MxHost, ...] = ()
    #: why the null MX is malformed
    null_mx_invalid: str | None = optional()
    caps_hit: tuple[Mapping[str, JSON], ...] = optional(())
    excluded: tuple[MxExcluded, ...] = optional(())


@dataclass(frozen=True)
class MxLookup:
    """The MX lookup of a domain as ``mail.mx_aaaa`` records it (``mail.mx_reach`` reads it too)."""

    status: Status
    evidence: MxEvidence
    error: str | None
    elapsed_ms: float
    started_at: str = field(default_factory=now_iso)


async def _host(ctx: Context, preference: int | None, host: str) -> MxHost:
    aaaa, a = await asyncio.gather(ctx.lookup(host, "AAAA"), ctx.lookup(host, "A"))
    rows = [AddressRow.from_json({**classify(v).to_json(), "usable": ctx.policy.allows(v)}) for v in aaaa.values]
    return MxHost.build(preference=preference, host=host, aaaa_status=str(aaaa.status), aaaa=rows,
                        a_status=str(a.status), a=a.values,
                        error=aaaa.error if aaaa.status not in (Status.OK, Status.NODATA) else None)


def _mx_pairs(values: Sequence[str]) -> list[tuple[int, str]]:
    """(preference, host) of MX records, most preferred first."""
    pairs: list[tuple[int, str]] = []
    for value in values:
        pref, _, host = value.partition(" ")
        pairs.append((int(pref), host.rstrip(".")))
    return sorted(pairs)


async def find_mx(ctx: Context, domain: str) -> MxLookup:
    """The MX hosts of ``domain`` (those not on the exclusion list, at most ``max_mx_hosts``) and
    their AAAA and A records."""
    sw = Stopwatch()
    mx = await ctx.lookup(domain, "MX")
    ev = MxEvidence(domain=domain, lookup=mx.to_json())
    if mx.status is Status.NODATA:
        ev = MxEvidence(domain=domain, lookup=mx.to_json(), implicit_mx=True, mx=(await _host(ctx, None, domain),))
        return MxLookup(Status.OK, ev, None, sw.stop(), sw.started_at)
    if mx.status is not Status.OK:
        return MxLookup(mx.status, ev, f"MX lookup: {mx.error}", sw.stop(), sw.started_at)
    pairs = _mx_pairs(mx.values)
    null_mx = any(host in ("", ".") for _, host in pairs)
    invalid = "a null MX must be the only MX record (RFC 7505)" if null_mx and len(pairs) > 1 else None
    pairs = [(p, h) for p, h in pairs if h not in ("", ".")]
    entries = {h: e for _, h in pairs if (e := ctx.excluded(h)) is not None}
    excluded = tuple(MxExcluded(host=h, preference=p, entry=entries[h]) for p, h in pairs if h in entries)
    pairs = [(p, h) for p, h in pairs if h not in entries]
    cap = ctx.settings.max_mx_hosts
    hosts = await asyncio.gather(*(_host(ctx, p, h) for p, h in pairs[:cap]))  # the most preferred ones
    ev = MxEvidence(domain=domain, lookup=mx.to_json(), null_mx=null_mx, mx=tuple(hosts), null_mx_invalid=invalid,
                    caps_hit=(cap_hit("max_mx_hosts", cap, len(pairs)),) if len(pairs) > cap else (),
                    excluded=excluded)
    if excluded and not hosts and not null_mx:
        return MxLookup(Status.EXCLUDED, ev, "every MX host is on the exclusion list: not contacted",
                        sw.stop(), sw.started_at)
    return MxLookup(Status.OK, ev, None, sw.stop(), sw.started_at)


async def mx_lookup(run: Run) -> MxLookup:
    """The MX hosts of the run's domain, looked up once for ``mail.mx_aaaa`` and ``mail.mx_reach``."""
    return await run.shared("mail.mx", lambda: find_mx(run.ctx, run.name))


def mx_v6_targets(mx: MxEvidence | Observation, per_host: int = 16) -> list[tuple[str, str]]:
    """(MX host, IPv6 address) pairs that ``mail.mx_reach`` should probe (allowed addresses only, at
    most ``per_host`` of each host); ``mx`` is the evidence of ``mail.mx_aaaa`` or its observation."""
    ev = MxEvidence.from_json(mx.evidence) if isinstance(mx, Observation) else mx
    out: list[tuple[str, str]] = []
    for host in ev.mx:
        usable = [row for row in host.aaaa if row.usable]
        out += [(host.host, row.address) for row in usable[:per_host]]
    return out


#: the outcomes of an SMTP probe worth another try: no connection (a server that connected and said
#: nothing, or something wrong, has answered)
TRANSIENT_SMTP = ("timeout", str(Status.UNREACHABLE), str(Status.ERROR))


async def smtp(address: str, timeout: float) -> dict[str, JSON]:
    """Connect to port 25 of ``address``, read the greeting, EHLO, QUIT: the banner, the EHLO lines, how it
    ended (``status``: greets, bad_greeting, bad_ehlo, silent, timeout, or a connection status) and
    at which ``step``."""
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
