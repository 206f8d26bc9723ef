"""Queries sent straight to one server address, over one transport (UDP or TCP).

The recursive layer (:mod:`v6scan.resolver`) hides which server answered and
drops referrals; name-server checks need the opposite: every (server,
address, transport) on its own, the rcode, the AA and TC flags, and the
authority/additional sections of referrals.  dnspython builds and parses the
messages; the sockets are asyncio's.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from v6scan.dnsudp import UdpMux
from v6scan.model import JSON, Status
from v6scan.resolver import RR

__all__ = ["ServerReply", "SignedReply", "ask", "ask_dnssec", "signed_reply"]

MAX_MESSAGE = 65535


@dataclass(frozen=True, slots=True)
class ServerReply:
    """What one server address said (or did not say) over one transport."""

    server: str
    transport: str
    qname: str
    qtype: str
    status: Status
    rcode: str | None = None
    aa: bool = False
    tc: bool = False
    answer: tuple[RR, ...] = ()
    authority: tuple[RR, ...] = ()
    additional: tuple[RR, ...] = ()
    elapsed_ms: float = 0.0
    error: str | None = None
    attempts: int = 1  # tries made until this reply (see v6scan.attempts)

    @property
    def answered(self) -> bool:
        """The server sent a well-formed DNS response (whatever its rcode)."""
        return self.rcode is not None

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {
            "server": self.server,
            "transport": self.transport,
            "status": str(self.status),
            "rcode": self.rcode,
            "aa": self.aa,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "attempts": self.attempts,
            "successes": int(self.answered),
        }
        if self.tc:
            out["tc"] = True
        if self.answer:
            out["answer"] = [f"{r.name} {r.type} {r.data}" for r in self.answer]
        if self.error:
            out["error"] = self.error
        return out


def _rrs(section: list[dns.rrset.RRset]) -> tuple[RR, ...]:
    out = []
    for rrset in section:
        name = rrset.name.to_text(omit_final_dot=True).lower()
        rtype = dns.rdatatype.to_text(rrset.rdtype)
        for rd in rrset:
            if rtype in ("NS", "CNAME", "PTR", "DNAME"):
                data = rd.target.to_text(omit_final_dot=True).lower()
            elif rtype == "MX":
                ex = rd.exchange.to_text(omit_final_dot=True).lower() or "."
                data = f"{rd.preference} {ex}"
            else:
                data = rd.to_text()
            out.append(RR(name or ".", rtype, int(rrset.ttl), data))
    return tuple(out)


_RCODE_STATUS = {
    "NOERROR": Status.OK,
    "NXDOMAIN": Status.NXDOMAIN,
    "SERVFAIL": Status.SERVFAIL,
    "REFUSED": Status.REFUSED,
}


async def _exchange(q: dns.message.Message, server: str, transport: str, timeout: float, port: int,
                    mux: UdpMux | None = None) -> dns.message.Message | tuple[Status, str]:
    """``q`` sent to ``server`` over ``transport`` (udp or tcp): the parsed response, or the status and
    the reason when none came or it did not parse.  With ``mux`` the query takes one of the
    server's query slots (over UDP it shares the mux's sockets too); without, it is not limited and
    has a socket of its own."""
    if transport not in ("udp", "tcp"):
        raise ValueError(f"unknown transport {transport!r}")
    try:
        if transport == "udp" and mux is not None:
            return await mux.query(q, server, port, timeout)
        if transport == "udp":
            return await dns.asyncquery.udp(q, server, timeout=timeout, port=port,
                                            ignore_unexpected=True, ignore_trailing=True)
        async with mux.slot(server) if mux is not None else contextlib.nullcontext():
            return await dns.asyncquery.tcp(q, server, timeout=timeout, port=port)
    except dns.exception.Timeout:
        return Status.TIMEOUT, f"no answer over {transport.upper()} within {timeout:g} s"
    except ConnectionRefusedError:
        return Status.REFUSED, f"connection refused over {transport.upper()}"
    except (dns.message.ShortHeader, dns.message.TrailingJunk, dns.exception.FormError,
            dns.name.BadLabelType, dns.exception.SyntaxError, EOFError) as e:
        return Status.ERROR, f"malformed answer over {transport.upper()}: {e.__class__.__name__}"
    except dns.exception.DNSException as e:
        return Status.ERROR, f"bad answer over {transport.upper()}: {e}"
    except (OSError, ValueError) as e:  # ValueError: an address the socket layer refuses
        return Status.UNREACHABLE, f"{transport.upper()}: {getattr(e, 'strerror', None) or e}"


async def ask(server: str, qname: str, qtype: str, transport: str = "udp", *, timeout: float = 3.0,
              port: int = 53, recursion: bool = False, mux: UdpMux | None = None) -> ServerReply:
    """Send one query to ``server`` (an address) over ``transport`` and classify the reply.

    Never raises for network or protocol trouble: that is the reply's status.  ``mux``: the
    sweep's shared UDP sockets and per-server query limit (:class:`v6scan.dnsudp.UdpMux`).
    """
    started = time.perf_counter()

    def done(status: Status, error: str | None = None, **kw: object) -> ServerReply:
        return ServerReply(server, transport, qname, qtype, status,
                           elapsed_ms=(time.perf_counter() - started) * 1000, error=error,
                           **kw)  # type: ignore[arg-type]

    try:
        q = dns.message.make_query(dns.name.from_text(qname), qtype, use_edns=0, payload=1232)
    except (dns.exception.DNSException, ValueError) as e:
        return done(Status.ERROR, f"cannot build the query: {e}")
    if not recursion:
        q.flags &= ~dns.flags.RD
    r = await _exchange(q, server, transport, timeout, port, mux)
    if isinstance(r, tuple):
        return done(*r)
    rcode = dns.rcode.to_text(r.rcode())
    aa = bool(r.flags & dns.flags.AA)
    tc = bool(r.flags & dns.flags.TC)
    answer, authority, additional = _rrs(r.answer), _rrs(r.authority), _rrs(r.additional)
    status = _RCODE_STATUS.get(rcode, Status.ERROR)
    err = None if status is not Status.ERROR else f"the server answered {rcode}"
    if status is Status.OK and not answer and not any(x.type == "NS" for x in authority):
        status = Status.NODATA
    return done(status, err, rcode=rcode, aa=aa, tc=tc, answer=answer, authority=authority,
                additional=additional)


@dataclass(frozen=True, slots=True)
class SignedReply:
    """A reply to a query with the DO bit (``ask_dnssec``): the classified reply and the parsed
    message, whose RRsets (with their RRSIGs) a validator reads; ``size`` is the message's length
    in bytes as encoded again (0 when nothing came)."""

    reply: ServerReply
    message: dns.message.Message | None = None
    size: int = 0


async def ask_dnssec(server: str, qname: str, qtype: str, transport: str = "udp", *, timeout: float = 3.0,
                     port: int = 53, payload: int = 1232, mux: UdpMux | None = None) -> SignedReply:
    """One non-recursive query with EDNS (``payload`` bytes) and the DO bit, for DNSSEC records.

    Like :func:`ask`, never raises for network or protocol trouble; a truncated UDP reply comes
    back as it is (``reply.tc``): the caller asks again over TCP.  A message is at most 64 KiB
    (UDP datagram, TCP length prefix); dnspython parses it."""
    started = time.perf_counter()

    def done(status: Status, error: str | None = None, **kw: object) -> SignedReply:
        return SignedReply(ServerReply(server, transport, qname, qtype, status,
                                       elapsed_ms=(time.perf_counter() - started) * 1000, error=error,
                                       **kw))  # type: ignore[arg-type]

    try:
        q = dns.message.make_query(dns.name.from_text(qname), qtype, use_edns=0, payload=payload,
                                   want_dnssec=True)
    except (dns.exception.DNSException, ValueError) as e:
        return done(Status.ERROR, f"cannot build the query: {e}")
    q.flags &= ~dns.flags.RD
    r = await _exchange(q, server, transport, timeout, port, mux)
    if isinstance(r, tuple):
        return done(*r)
    return signed_reply(server, transport, qname, qtype, r, (time.perf_counter() - started) * 1000)


def signed_reply(server: str, transport: str, qname: str, qtype: str, r: dns.message.Message,
                 elapsed_ms: float = 0.0) -> SignedReply:
    """A parsed response to a DO query, classified as :func:`ask_dnssec` returns it."""
    try:
        size = len(r.to_wire(max_size=MAX_MESSAGE))
    except (dns.exception.DNSException, ValueError):
        size = MAX_MESSAGE
    rcode = dns.rcode.to_text(r.rcode())
    status = _RCODE_STATUS.get(rcode, Status.ERROR)
    err = None if status is not Status.ERROR else f"the server answered {rcode}"
    answer, authority = _rrs(r.answer), _rrs(r.authority)
    if status is Status.OK and not answer and not any(x.type == "NS" for x in authority):
        status = Status.NODATA
    reply = ServerReply(server, transport, qname, qtype, status, rcode=rcode, aa=bool(r.flags & dns.flags.AA),
                        tc=bool(r.flags & dns.flags.TC), answer=answer, authority=authority,
                        elapsed_ms=elapsed_ms, error=err)
    return SignedReply(reply, r, size)
