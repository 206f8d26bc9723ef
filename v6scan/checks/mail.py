"""What the mail checks measure: the domain's MX hosts and their addresses (:func:`mx_lookup`,
shared by ``mail.mx_aaaa``, ``mail.mx_reach`` and ``mail.starttls``) and the SMTP dialogues
(:func:`smtp`; :func:`starttls`, which upgrades the connection to TLS).

Null MX (RFC 7505: a single ``0 .``) means the domain accepts no mail; no MX
at all means mail goes to the domain's own A/AAAA (RFC 5321 section 5.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from v6scan.addresses import classify
from v6scan.checks.base import Evidence, Row, Run, optional
from v6scan.checks.dns import AddressRow
from v6scan.context import Context
from v6scan.model import JSON, Observation, Status, Stopwatch, cap_hit, now_iso
from v6scan.net import VERIFY_CODES, cert_info, classify_error, open_socket

__all__ = ["TRANSIENT_SMTP", "MxEvidence", "MxExcluded", "MxHost", "MxLookup", "find_mx", "mx_lookup", "mx_v6_targets",
           "not_probed", "smtp", "starttls"]


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


def not_probed(mx: MxLookup, any_address: bool) -> str | None:
    """Why a mail check probes no MX address (``any_address``: it has one to probe), else None."""
    if mx.evidence.implicit_mx:
        return "the domain publishes no MX: no mail service to test"
    if mx.evidence.null_mx and not mx.evidence.mx:
        return "the domain accepts no mail (null MX)"
    if any_address:
        return None
    if mx.status is Status.OK:
        return "no MX host has a usable IPv6 address"
    if mx.status is Status.EXCLUDED:
        return "every MX host is on the exclusion list"
    return f"MX lookup: {mx.status}"


async def smtp(address: str, timeout: float) -> dict[str, JSON]:
    """Connect to port 25 of ``address``, read the greeting, EHLO, QUIT: the banner, the EHLO lines, how it
    ended (``status``: greets, bad_greeting, bad_ehlo, silent, timeout, or a connection status) and
    at which ``step``."""
    t0 = time.perf_counter()

    async def then(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ehlo: list[str],
                   row: dict[str, JSON], at: list[str]) -> None:
        writer.write(b"QUIT\r\n")
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(timeout):
                await _reply(reader)
        row.update(status="greets")

    row = await _dialogue(address, timeout, then)
    row["elapsed_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return row


#: what a dialogue does after a good EHLO reply (its lines): it sets ``row``'s status, and ``at[0]``
#: to each step it reaches
AfterEhlo = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[str], dict[str, JSON], list[str]],
                     Awaitable[None]]


async def _dialogue(address: str, timeout: float, then: AfterEhlo) -> dict[str, JSON]:
    """Connect to port 25 of ``address``, read the greeting and send EHLO, then ``then``: the row
    (``address``, ``banner``, ``ehlo``, ``status``, ``step``, ``error``), however the server behaves."""
    row: dict[str, JSON] = {"address": address}
    writer: asyncio.StreamWriter | None = None
    at = ["connect"]
    try:
        sock = await open_socket(address, 25, timeout)
        reader, writer = await asyncio.open_connection(sock=sock, limit=16384)
        at[0] = "greeting"
        async with asyncio.timeout(timeout):
            banner = await _reply(reader)
        row["banner"] = banner[-1][:200] if banner else ""
        if not banner or not banner[-1].startswith("220"):
            row.update(status="bad_greeting", step=at[0])
            return row
        at[0] = "ehlo"
        writer.write(b"EHLO v6scan.invalid\r\n")
        async with asyncio.timeout(timeout):
            ehlo = await _reply(reader)
        row["ehlo"] = [x[4:][:80] for x in ehlo][:20]
        if not ehlo or not ehlo[-1].startswith("250"):
            row.update(status="bad_ehlo", step=at[0])
            return row
        await then(reader, writer, ehlo, row, at)
    except TimeoutError:
        row.update(status="silent" if at[0] != "connect" else "timeout", step=at[0])
    except (OSError, ValueError) as e:
        status, reason = classify_error(e)
        row.update(status=str(status), step=at[0], error=reason)
    finally:
        if writer is not None:
            writer.close()
    return row


async def _quit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
    """QUIT, and its reply read if it comes in time (whatever it is)."""
    with contextlib.suppress(TimeoutError, OSError):
        writer.write(b"QUIT\r\n")
        async with asyncio.timeout(timeout):
            await _reply(reader)


def _offers_starttls(ehlo: list[str]) -> bool:
    """Whether an EHLO reply's lines (with their codes) name the STARTTLS extension (RFC 3207)."""
    return any(x[4:].strip().split(" ", 1)[0].upper() == "STARTTLS" for x in ehlo[1:])


async def _upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                   context: ssl.SSLContext, verifying: bool, timeout: float, row: dict[str, JSON]) -> None:
    """The TLS handshake on the connection (SNI and name ``host``): the protocol, cipher and certificate,
    ``valid`` (when ``verifying``), then EHLO over TLS (``tls_ehlo``: answered 250) and QUIT."""
    try:
        async with asyncio.timeout(timeout):
            await writer.start_tls(context, server_hostname=host, ssl_handshake_timeout=timeout)
    except ssl.SSLCertVerificationError as e:
        code = e.verify_code
        row.update(status="ok", valid=False, problem=VERIFY_CODES.get(code, "invalid"), verify_code=code,
                   error=f"certificate not valid: {e.verify_message}")
        return
    obj = writer.get_extra_info("ssl_object")
    if isinstance(obj, ssl.SSLObject):
        der = obj.getpeercert(binary_form=True)
        cipher = obj.cipher()
        row.update(protocol=obj.version(), cipher=cipher[0] if cipher else None,
                   cert=cert_info(der).to_json() if der else None)
    row.update(status="ok", valid=True if verifying else None)
    ok = False
    with contextlib.suppress(TimeoutError, OSError):
        writer.write(b"EHLO v6scan.invalid\r\n")
        async with asyncio.timeout(timeout):
            ehlo = await _reply(reader)
        ok = bool(ehlo) and ehlo[-1].startswith("250")
    row["tls_ehlo"] = ok
    await _quit(reader, writer, timeout)


async def _starttls_once(address: str, host: str, context: ssl.SSLContext, verifying: bool,
                         timeout: float) -> dict[str, JSON]:
    async def then(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ehlo: list[str],
                   row: dict[str, JSON], at: list[str]) -> None:
        row["starttls"] = _offers_starttls(ehlo)
        if not row["starttls"]:
            await _quit(reader, writer, timeout)
            row.update(status="no_starttls")
            return
        at[0] = "starttls"
        writer.write(b"STARTTLS\r\n")
        async with asyncio.timeout(timeout):
            reply = await _reply(reader)
        row["starttls_reply"] = reply[-1][:200] if reply else ""
        if not reply or not reply[-1].startswith("220"):
            await _quit(reader, writer, timeout)
            row.update(status="starttls_refused", step=at[0])
            return
        at[0] = "tls"
        await _upgrade(reader, writer, host, context, verifying, timeout, row)

    return await _dialogue(address, timeout, then)


async def starttls(address: str, host: str, verify: ssl.SSLContext, loose: ssl.SSLContext,
                   timeout: float) -> dict[str, JSON]:
    """Connect to port 25 of ``address``, read the greeting, EHLO, and when the server advertises
    STARTTLS (RFC 3207) send it and make the TLS handshake with SNI ``host`` (the MX host name),
    verifying the chain and the name; EHLO over TLS, QUIT.  When the certificate does not verify, the
    dialogue is made again with ``loose`` so the row shows the certificate served.

    The row: ``address``, ``banner``, ``ehlo``, ``starttls`` (advertised), ``starttls_reply``, ``status``
    (ok: TLS made; no_starttls, starttls_refused, bad_greeting, bad_ehlo, silent, timeout, or a connection
    or TLS status), ``step`` it ended at, ``valid``, ``problem``, ``verify_code``, ``protocol``, ``cipher``,
    ``cert`` (:meth:`v6scan.net.CertInfo.to_json`), ``tls_ehlo``, ``error``, ``elapsed_ms``."""
    t0 = time.perf_counter()
    row = await _starttls_once(address, host, verify, True, timeout)
    if row.get("status") == "ok" and row.get("valid") is False:
        again = await _starttls_once(address, host, loose, False, timeout)
        if again.get("status") == "ok":
            row.update({k: again[k] for k in ("protocol", "cipher", "cert", "tls_ehlo") if k in again})
    row["elapsed_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return row


#: the lines of one SMTP reply read at most, and the characters kept of each (RFC 5321 section 4.5.3.1.5
#: allows 512 octets per reply line): what a server sends is hostile input
MAX_REPLY_LINES = 50
MAX_REPLY_LINE = 1000
#: what stands for a line longer than the stream's buffer (readline drops it): it ends the reply
OVERLONG = "(a line longer than the read buffer)"


async def _reply(reader: asyncio.StreamReader) -> list[str]:
    """One SMTP reply: lines up to the one with a space after the code (at most ``MAX_REPLY_LINES``
    lines of at most ``MAX_REPLY_LINE`` characters; a line longer than the reader's buffer ends it as
    :data:`OVERLONG`).  Never raises on what the server sends (only the stream's own errors)."""
    lines: list[str] = []
    while len(lines) < MAX_REPLY_LINES:
        try:
            raw = await reader.readline()
        except ValueError:  # longer than the reader's limit: readline dropped what it had
            lines.append(OVERLONG)
            break
        if not raw:
            break
        line = raw.decode("latin-1").rstrip("\r\n")[:MAX_REPLY_LINE]
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            break
    return lines
