"""The recursive-resolver layer: aiodns (c-ares) with our own timeouts, retries and CNAME logic.

* System resolvers by default (``/etc/resolv.conf``), or ``--resolver ADDR[:PORT]``.
* c-ares is asked for one try per query; timeouts and retries are ours, so
  its adaptive timeouts cannot fail a query early under load.
* NXDOMAIN, NODATA, SERVFAIL, REFUSED, timeout and malformed answers stay
  distinct (:class:`v6scan.model.Status`).
* Answers are filtered by type at the end of the CNAME chain: a CNAME-only
  answer is not an AAAA.  Chains are followed to a depth cap with loop
  detection.  Truncated answers are retried over TCP by c-ares.
* c-ares' answer cache is switched off (a sweep asks each name once; the
  cache would only grow).  Should that ever fail with another pycares, the
  channel is recycled every ``recycle_after`` queries instead, so a long
  sweep's memory stays bounded either way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiodns
import aiodns.error
import pycares

from v6scan.model import JSON, Status

__all__ = ["RR", "Answer", "Resolver", "parse_server"]

QTYPES = ("A", "AAAA", "CNAME", "MX", "NS", "SOA", "TXT", "PTR", "SRV", "CAA")
_TYPE_NAMES = {
    pycares.QUERY_TYPE_A: "A",
    pycares.QUERY_TYPE_AAAA: "AAAA",
    pycares.QUERY_TYPE_CNAME: "CNAME",
    pycares.QUERY_TYPE_MX: "MX",
    pycares.QUERY_TYPE_NS: "NS",
    pycares.QUERY_TYPE_SOA: "SOA",
    pycares.QUERY_TYPE_TXT: "TXT",
    pycares.QUERY_TYPE_PTR: "PTR",
    pycares.QUERY_TYPE_SRV: "SRV",
    pycares.QUERY_TYPE_CAA: "CAA",
}
_ERRORS: dict[int, tuple[Status, str]] = {
    pycares.errno.ARES_ENOTFOUND: (Status.NXDOMAIN, "the name does not exist (NXDOMAIN)"),
    pycares.errno.ARES_ENODATA: (Status.NODATA, "the name exists but has no record of this type"),
    pycares.errno.ARES_ESERVFAIL: (Status.SERVFAIL, "the resolver could not get an answer (SERVFAIL)"),
    pycares.errno.ARES_EREFUSED: (Status.REFUSED, "the resolver refused the query (REFUSED)"),
    pycares.errno.ARES_ETIMEOUT: (Status.TIMEOUT, "no answer from the resolver in time"),
    pycares.errno.ARES_ECONNREFUSED: (Status.UNREACHABLE, "could not reach the resolver"),
    pycares.errno.ARES_EFORMERR: (Status.ERROR, "the resolver said the query was malformed (FORMERR)"),
    pycares.errno.ARES_EBADRESP: (Status.ERROR, "malformed answer from the resolver"),
    pycares.errno.ARES_ENOTIMP: (Status.ERROR, "the resolver does not implement this query (NOTIMP)"),
    pycares.errno.ARES_EBADNAME: (Status.ERROR, "the name cannot be queried"),
    pycares.errno.ARES_EOF: (Status.ERROR, "the resolver closed the connection"),
}
_RETRY = {Status.TIMEOUT, Status.UNREACHABLE}


def parse_server(spec: str) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT`` or ``[V6ADDR]:PORT`` -> (address, port)."""
    s = spec.strip()
    port = 53
    if s.startswith("["):
        addr, _, rest = s[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"bad resolver {spec!r}: expected [ADDR]:PORT")
            port = int(rest[1:])
    elif s.count(":") == 1:
        addr, _, p = s.partition(":")
        if not p.isdigit():
            raise ValueError(f"bad resolver {spec!r}: the port must be a number")
        port = int(p)
    else:
        addr = s
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError(f"bad resolver {spec!r}: give an IP address, not a name") from None
    if not 0 < port < 65536:
        raise ValueError(f"bad resolver {spec!r}: port out of range")
    return ip.compressed, port


def _cares_server(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


@dataclass(frozen=True, slots=True)
class RR:
    """One resource record in text form (``data`` as it appears in a zone file, names absolute)."""

    name: str
    type: str
    ttl: int
    data: str

    def to_json(self) -> dict[str, JSON]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "data": self.data}


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower()


def rr_from_pycares(rec: Any) -> RR | None:
    rtype = _TYPE_NAMES.get(rec.type)
    if rtype is None:
        return None
    d = rec.data
    if rtype in ("A", "AAAA"):
        data = d.addr  # c-ares formats with inet_ntop: already canonical (RFC 5952) text
    elif rtype == "CNAME":
        data = _fqdn(d.cname)
    elif rtype == "NS":
        data = _fqdn(d.nsdname)
    elif rtype == "PTR":
        data = _fqdn(d.dname)
    elif rtype == "MX":
        data = f"{d.priority} {_fqdn(d.exchange) or '.'}"
    elif rtype == "SOA":
        data = f"{_fqdn(d.mname)} {_fqdn(d.rname)} {d.serial} {d.refresh} {d.retry} {d.expire} {d.minimum}"
    elif rtype == "TXT":
        data = d.data.decode("utf-8", "replace") if isinstance(d.data, bytes) else str(d.data)
    elif rtype == "SRV":
        data = f"{d.priority} {d.weight} {d.port} {_fqdn(d.target)}"
    else:
        data = str(d)
    return RR(_fqdn(rec.name), rtype, int(rec.ttl), data)


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of looking up ``qname``/``qtype`` through the recursive resolver."""

    qname: str
    qtype: str
    status: Status
    records: tuple[RR, ...] = ()
    chain: tuple[str, ...] = ()
    error: str | None = None
    elapsed_ms: float = 0.0
    attempts: int = 1

    @property
    def values(self) -> list[str]:
        return [r.data for r in self.records]

    @property
    def final_name(self) -> str:
        return self.chain[-1] if self.chain else self.qname

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {
            "qname": self.qname,
            "qtype": self.qtype,
            "status": str(self.status),
            "records": self.values,
            "elapsed_ms": round(self.elapsed_ms, 3),
        }
        if self.records:
            out["ttl"] = min(r.ttl for r in self.records)
        if len(self.chain) > 1:
            out["cname_chain"] = list(self.chain)
        if self.error:
            out["error"] = self.error
        if self.attempts > 1:
            out["attempts"] = self.attempts
        return out


def follow_chain(qname: str, qtype: str, records: Iterable[RR], max_depth: int
                 ) -> tuple[tuple[str, ...], tuple[RR, ...], str | None]:
    """Walk the CNAME chain from ``qname`` in an answer.

    Returns (chain of owner names, records of ``qtype`` at the end, problem).
    ``problem`` names a loop or an over-long chain.
    """
    by_owner: dict[str, list[RR]] = {}
    for r in records:
        by_owner.setdefault(r.name, []).append(r)
    chain = [qname]
    owner = qname
    while True:
        here = by_owner.get(owner, [])
        wanted = tuple(r for r in here if r.type == qtype)
        if wanted or qtype == "CNAME":
            return tuple(chain), wanted, None
        cname = next((r for r in here if r.type == "CNAME"), None)
        if cname is None:
            return tuple(chain), (), None
        if cname.data in chain:
            return tuple([*chain, cname.data]), (), "CNAME loop: " + " -> ".join([*chain, cname.data])
        chain.append(cname.data)
        if len(chain) - 1 > max_depth:
            return tuple(chain), (), f"CNAME chain longer than {max_depth}"
        owner = cname.data


# c-ares' ares_options mask bit for the query cache (ares.h: ARES_OPT_QUERY_CACHE = 1 << 21);
# pycares 5 does not expose the option, so channels are created through a thin proxy of its
# cffi library that adds ``qcache_max_ttl = 0`` to the options it passes to ares_init_options.
_ARES_OPT_QUERY_CACHE = 1 << 21
_proxy_lock = threading.Lock()


class _NoCacheLib:
    def __init__(self, lib: Any) -> None:
        self._lib = lib

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)

    def ares_init_options(self, channel: Any, options: Any, optmask: int) -> Any:
        options.qcache_max_ttl = 0
        return self._lib.ares_init_options(channel, options, optmask | _ARES_OPT_QUERY_CACHE)


def _resolver_without_cache(kwargs: dict[str, Any]) -> tuple[aiodns.DNSResolver, bool]:
    """An aiodns resolver whose c-ares answer cache is off (else one with it on, and False)."""
    real = getattr(pycares, "_lib", None)
    if getattr(real, "ARES_OPT_EVENT_THREAD", None) != 1 << 22:  # not the layout we know
        return aiodns.DNSResolver(**kwargs), False
    with _proxy_lock:
        setattr(pycares, "_lib", _NoCacheLib(real))  # noqa: B010
        try:
            return aiodns.DNSResolver(**kwargs), True
        except Exception:  # an unknown pycares: keep its defaults, recycle channels instead
            setattr(pycares, "_lib", real)  # noqa: B010
            return aiodns.DNSResolver(**kwargs), False
        finally:
            setattr(pycares, "_lib", real)  # noqa: B010


class _Channel:
    def __init__(self, resolver: aiodns.DNSResolver) -> None:
        self.resolver = resolver
        self.inflight = 0
        self.used = 0


@dataclass
class Resolver:
    """Recursive lookups through aiodns.  Create it inside the event loop that uses it."""

    servers: Sequence[str] = ()
    timeout: float = 2.0
    retries: int = 2
    max_cname: int = 16
    recycle_after: int = 50_000
    _current: _Channel | None = field(default=None, init=False, repr=False)
    _retired: list[_Channel] = field(default_factory=list, init=False, repr=False)
    _closing: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    queries: int = field(default=0, init=False)
    #: True when c-ares' answer cache is off; otherwise channels are recycled to bound it
    cache_disabled: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._servers = [_cares_server(*parse_server(s)) for s in self.servers]

    def _make(self) -> _Channel:
        kwargs: dict[str, Any] = {
            "timeout": self.timeout,
            "tries": 1,
            "flags": pycares.ARES_FLAG_NOSEARCH | pycares.ARES_FLAG_EDNS,
        }
        if self._servers:
            kwargs["nameservers"] = self._servers
        resolver, self.cache_disabled = _resolver_without_cache(kwargs)
        return _Channel(resolver)

    def _channel(self) -> _Channel:
        ch = self._current
        if ch is None or (ch.used >= self.recycle_after and not self.cache_disabled):
            if ch is not None:
                self._retired.append(ch)
            ch = self._current = self._make()
        for old in [c for c in self._retired if c.inflight == 0]:
            self._retired.remove(old)
            task = asyncio.get_running_loop().create_task(old.resolver.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return ch

    async def close(self) -> None:
        for ch in [*self._retired, *([self._current] if self._current else [])]:
            await ch.resolver.close()
        self._retired.clear()
        self._current = None

    async def _once(self, name: str, qtype: str) -> tuple[Status, list[RR], str | None]:
        ch = self._channel()
        ch.inflight += 1
        ch.used += 1
        self.queries += 1
        try:
            async with asyncio.timeout(self.timeout + 1.0):  # a safety net: c-ares times out first
                res = await ch.resolver.query_dns(name + ".", qtype)
        except aiodns.error.DNSError as e:
            code = e.args[0] if e.args else -1
            status, text = _ERRORS.get(code, (Status.ERROR, f"resolver error: {e}"))
            return status, [], text
        except TimeoutError:
            return Status.TIMEOUT, [], "no answer from the resolver in time"
        except (UnicodeError, ValueError) as e:
            return Status.ERROR, [], f"the name cannot be queried: {e}"
        finally:
            ch.inflight -= 1
        rrs = [rr for rec in res.answer if (rr := rr_from_pycares(rec)) is not None]
        return Status.OK, rrs, None

    async def query(self, name: str, qtype: str) -> Answer:
        """Look ``name`` up, follow its CNAME chain, and return the records of ``qtype``."""
        if qtype not in QTYPES:
            raise ValueError(f"unsupported query type {qtype!r}")
        qname = _fqdn(name)
        started = time.perf_counter()
        attempts = 0
        chain: tuple[str, ...] = (qname,)
        current = qname
        status, error = Status.ERROR, None
        records: tuple[RR, ...] = ()
        while True:
            # our own retry budget: c-ares' adaptive per-try timeout can be far shorter
            # than ours (250 ms against a fast resolver), so early timeouts are re-asked
            # until the budget of ``timeout * (retries + 1)`` is spent
            budget_end = time.perf_counter() + self.timeout * (self.retries + 1)
            tries_here = 0
            while True:
                attempts += 1
                tries_here += 1
                status, rrs, error = await self._once(current, qtype)
                if status not in _RETRY or time.perf_counter() >= budget_end or tries_here >= 12:
                    break
                if status is Status.UNREACHABLE:
                    await asyncio.sleep(min(0.2 * tries_here, 1.0))
            if status is not Status.OK:
                break
            sub_chain, records, problem = follow_chain(current, qtype, rrs, self.max_cname)
            chain = chain + sub_chain[1:]
            if problem:
                status, error = Status.ERROR, problem
                break
            if len(set(chain)) != len(chain):
                status, error = Status.ERROR, "CNAME loop: " + " -> ".join(chain)
                break
            if len(chain) - 1 > self.max_cname:
                status, error = Status.ERROR, f"CNAME chain longer than {self.max_cname}"
                break
            if records or sub_chain[-1] == current:
                if not records:
                    status, error = Status.NODATA, "the name exists but has no record of this type"
                break
            # the resolver gave only part of the chain: continue from its end
            current = sub_chain[-1]
        if status is Status.NODATA and len(chain) > 1:
            error = f"no {qtype} record at the end of the CNAME chain ({chain[-1]})"
        return Answer(qname, qtype, status, records, chain, error,
                      (time.perf_counter() - started) * 1000, attempts)
