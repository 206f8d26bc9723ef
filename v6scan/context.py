"""The run-time context of a scan: resolver, address policy, caches and politeness limits.

One :class:`Context` lives for a whole sweep (inside one event loop), so zone
cuts, name-server addresses and delegations learned for one site serve the
next one, and no name server gets more than ``per_server_concurrency``
queries from us at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import ipaddress
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from v6scan.addresses import AddressPolicy
from v6scan.attempts import TRANSIENT, retried
from v6scan.dnsdirect import ServerReply, ask
from v6scan.dnsudp import UdpMux
from v6scan.fetch import USER_AGENT, Fetcher, Limits
from v6scan.model import Status
from v6scan.net import Probe, make_ssl_contexts, tcp_connect
from v6scan.resolver import RR, Answer, Resolver
from v6scan.settings import RootServer, Settings, parse_pins
from v6scan.targets import NameExclusions

__all__ = ["Context"]

T = TypeVar("T")


class Pacer:
    """Admission by event-loop lag: every tick, a few waiting targets start if the loop kept time."""

    TICK = 0.02
    PER_TICK = 16  # at most 800 target starts a second

    def __init__(self, max_lag: float) -> None:
        self.max_lag = max_lag
        self.lag = 0.0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._task: asyncio.Task[None] | None = None

    async def admit(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        fut = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(self.TICK)
            self.lag = max(0.0, loop.time() - t - self.TICK)
            if self.lag > self.max_lag:
                continue
            n = 0
            while self._waiting and n < self.PER_TICK:
                fut = self._waiting.popleft()
                if not fut.done():
                    fut.set_result(None)
                    n += 1

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


@dataclass
class Context:
    settings: Settings
    resolver: Resolver
    policy: AddressPolicy
    roots: tuple[RootServer, ...]
    verify_ctx: ssl.SSLContext
    loose_ctx: ssl.SSLContext
    fetcher: Fetcher
    _slots: dict[str, list[Any]] = field(default_factory=dict, repr=False)
    #: entries of the shared LRU (zones, lookups, probes): recent ones are what neighbours share, and
    #: a million-target sweep must not keep one per site
    cache_size: int = 20_000
    _cache: OrderedDict[tuple[str, ...], asyncio.Future[Any]] = field(default_factory=OrderedDict,
                                                                       repr=False)
    _born: dict[tuple[str, ...], float] = field(default_factory=dict, repr=False)
    _prefixes: dict[str, str] = field(default_factory=dict, repr=False)
    #: targets in their connection phase at once (set by the runner; DNS of later targets runs ahead)
    connect_gate: asyncio.Semaphore | None = field(default=None, repr=False)
    _pacer: Pacer | None = field(default=None, repr=False)
    #: the latest run of the self-check canary: (when it started, loop time; its outcome)
    _canary: tuple[float, asyncio.Future[Any]] | None = field(default=None, repr=False)
    #: zone -> [(ns name, IPv6 address)] learned on IPv6-only walks (dns.v6_path), the most recent
    #: ``cache_size`` zones
    delegations_v6: OrderedDict[str, list[tuple[str, str]]] = field(default_factory=OrderedDict, repr=False)
    #: the names and suffixes of the user's exclusion list: never contacted, whatever leads to them
    exclusions: NameExclusions = field(default_factory=lambda: NameExclusions(()), repr=False)
    #: name -> the addresses ``--address NAME=IP`` gives it (used instead of its A/AAAA records)
    pins: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _mail_tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = field(default=None, repr=False)
    #: the sockets every direct DNS query over UDP shares, and each name server's query limit
    #: (``per_server_concurrency``; an entry lives while its server is asked)
    udp: UdpMux = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.udp = UdpMux(self.settings.per_server_concurrency)

    @classmethod
    def create(cls, settings: Settings | None = None) -> Context:
        s = settings or Settings()
        resolver = Resolver(s.resolvers, timeout=s.dns_timeout, retries=s.dns_retries,
                            max_cname=s.max_cname)
        policy = AddressPolicy.from_strings(s.allow_nets, s.exclude_nets)
        verify, loose = make_ssl_contexts(str(s.ca_bundle) if s.ca_bundle else None)
        limits = Limits(connect=s.timeout, first_byte=s.timeout * 2, body=s.body_timeout,
                        max_body=s.max_body)
        exclusions = NameExclusions(s.exclude_names)
        fetcher = Fetcher(verify, limits, s.user_agent or USER_AGENT, s.retry, excluded=exclusions.match)
        return cls(s, resolver, policy, s.roots(), verify, loose, fetcher, exclusions=exclusions,
                   pins=parse_pins(s.pins))

    def mail_tls(self) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        """(verifying, non-verifying) TLS contexts for SMTP: as :attr:`verify_ctx` and :attr:`loose_ctx`
        but offering no ALPN protocol (http/1.1 means nothing to a mail server), made on first use."""
        if self._mail_tls is None:
            s = self.settings
            self._mail_tls = make_ssl_contexts(str(s.ca_bundle) if s.ca_bundle else None, alpn=())
        return self._mail_tls

    def pinned(self, name: str, qtype: str) -> Answer | None:
        """The answer ``--address`` gives for ``name``/``qtype`` (A or AAAA), or None when the name is
        not pinned: a pinned name has exactly the given addresses (NODATA for a family it has none of)."""
        addresses = self.pins.get(name.rstrip(".").lower()) if self.pins else None
        if addresses is None or qtype not in ("A", "AAAA"):
            return None
        want = 6 if qtype == "AAAA" else 4
        records = tuple(RR(name, qtype, 0, a) for a in addresses if ipaddress.ip_address(a).version == want)
        return Answer(name, qtype, Status.OK if records else Status.NODATA, records,
                      error=None if records else f"no {'IPv6' if want == 6 else 'IPv4'} address given with --address")

    def excluded(self, name: str) -> str | None:
        """The exclusion-list entry that ``name`` matches (case, trailing dot and IDN form aside), or
        None: a name that matches is recorded as ``excluded`` and never contacted."""
        return self.exclusions.match(name) if name else None

    def learn_delegation(self, zone: str, servers: list[tuple[str, str]]) -> None:
        """Remember the IPv6 servers of ``zone`` for later walks (bounded: the most recent zones)."""
        self.delegations_v6[zone] = servers
        self.delegations_v6.move_to_end(zone)
        while len(self.delegations_v6) > self.cache_size:
            self.delegations_v6.popitem(last=False)

    async def close(self) -> None:
        if self._pacer is not None:
            self._pacer.stop()
        await self.resolver.close()
        await self.fetcher.aclose()
        await self.udp.close()

    async def pace(self) -> None:
        """Wait until this event loop keeps up: a new target starts only while the loop's lag is
        under ``settings.max_loop_lag`` (an overloaded scanner would time out on its own slowness
        and blame the sites)."""
        if self._pacer is None:
            self._pacer = Pacer(self.settings.max_loop_lag)
        await self._pacer.admit()

    @contextlib.asynccontextmanager
    async def slot(self, address: str) -> AsyncIterator[None]:
        """Hold a connection slot for ``address`` and its /64 (IPv6) or /24 (IPv4)."""
        prefix = self._prefixes.get(address)
        if prefix is None:
            a = ipaddress.ip_address(address)
            prefix = str(ipaddress.ip_network(f"{a}/{64 if a.version == 6 else 24}", strict=False))
            if len(self._prefixes) > self.cache_size:
                self._prefixes.clear()
            self._prefixes[address] = prefix
        keys = ((address, self.settings.per_address_concurrency),
                (prefix, self.settings.per_prefix_concurrency))
        registered: list[str] = []
        acquired: list[str] = []
        try:
            for key, limit in keys:
                entry = self._slots.get(key)
                if entry is None:
                    entry = self._slots[key] = [asyncio.Semaphore(limit), 0]
                entry[1] += 1  # users, waiting or holding: the entry lives while > 0
                registered.append(key)
                await entry[0].acquire()
                acquired.append(key)
            yield
        finally:
            for key in acquired:
                self._slots[key][0].release()
            for key in registered:
                entry = self._slots[key]
                entry[1] -= 1
                if entry[1] == 0:
                    del self._slots[key]

    async def __aenter__(self) -> Context:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def cached(self, key: tuple[str, ...], make: Callable[[], Awaitable[T]], ttl: float | None = None,
                     keep: Callable[[T], bool] | None = None) -> T:
        """Compute ``make()`` once per key (concurrent callers share it), in a bounded LRU.

        The computation runs as its own task, so a caller cancelled by its
        deadline never cancels it for the other callers; a computation that
        failed is forgotten, so the next caller tries again (so is a result for
        which ``keep`` says false).  With ``ttl`` a result older than ``ttl``
        seconds is computed again.
        """
        task = self._cache.get(key)
        if task is not None and ttl is not None and task.done() and \
                time.monotonic() - self._born.get(key, 0.0) > ttl:
            task = None
        if task is None:
            if ttl is not None:
                self._born[key] = time.monotonic()
            task = asyncio.ensure_future(make())
            self._cache[key] = task

            def forget_failure(t: asyncio.Future[Any], key: tuple[str, ...] = key) -> None:
                failed = t.cancelled() or t.exception() is not None
                if (failed or (keep is not None and not keep(t.result()))) and self._cache.get(key) is t:
                    del self._cache[key]

            task.add_done_callback(forget_failure)
            while len(self._cache) > self.cache_size:
                old, _ = self._cache.popitem(last=False)
                self._born.pop(old, None)
        else:
            self._cache.move_to_end(key)
        return await asyncio.shield(task)

    def ready(self, key: tuple[str, ...], ttl: float | None = None) -> tuple[bool, Any]:
        """``(True, value)`` when :meth:`cached` has a finished, successful and fresh result for
        ``key`` (no task, no await: for the many callers that find it there), else ``(False, None)``."""
        task = self._cache.get(key)
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return False, None
        if ttl is not None and time.monotonic() - self._born.get(key, 0.0) > ttl:
            return False, None
        self._cache.move_to_end(key)
        return True, task.result()

    async def canary(self, after: float, make: Callable[[], Awaitable[T]]) -> T:
        """The outcome of a run of the self-check canary ``make`` that started at ``after`` (loop
        time) or later.

        One run at a time, shared by every caller it can serve, and at most one start per
        ``settings.self_check_interval`` seconds: a target that finished at ``t`` waits for the next
        run after ``t``, so the scanner's own IPv6 is known to have worked *after* the target's
        probes before their failures are blamed on the site.
        """
        loop = asyncio.get_running_loop()
        while True:
            cur = self._canary
            if cur is not None and cur[0] >= after:
                return await asyncio.shield(cur[1])
            if cur is not None and not cur[1].done():
                await asyncio.wait({cur[1]})
                continue
            start = max(loop.time(), cur[0] + self.settings.self_check_interval if cur else 0.0)

            async def run(at: float = start) -> T:
                await asyncio.sleep(max(0.0, at - loop.time()))
                return await make()

            self._canary = (start, asyncio.ensure_future(run()))

    async def tcp_probe(self, address: str, port: int, started_for: str) -> tuple[Probe, str]:
        """A TCP connect to ``address``:``port`` within its slot, shared by every target of the sweep
        that asks within ``settings.probe_ttl`` seconds (one shared address is probed once, and a
        dead or tarpitting address delays the targets behind it once, not once per target).
        Returns the probe and the name it was made for."""

        retry = self.settings.retry
        per_attempt = self.settings.connect_attempt_timeout

        async def once() -> Probe:
            async with self.slot(address):
                return await tcp_connect(address, port, per_attempt)

        async def probe() -> tuple[Probe, str]:
            # retried inside the shared computation: other targets see only the final outcome
            p, n = await retried(once, lambda r: r.status, retry)
            return dataclasses.replace(p, attempts=n), started_for

        return await self.cached(("tcp", address, str(port)), probe, ttl=self.settings.probe_ttl)

    async def lookup(self, name: str, qtype: str) -> Answer:
        """A recursive lookup, cached for the sweep (name-server and MX host addresses); an answer
        that never came (timeout, unreachable) is not kept: the next caller asks again.  A name
        pinned with ``--address`` gets its pins (redirect hops and links to it too)."""
        if (pinned := self.pinned(name, qtype)) is not None:
            return pinned
        return await self.cached(("lookup", name, qtype), lambda: self.resolver.query(name, qtype),
                                 keep=lambda a: a.status not in TRANSIENT)

    async def ask(self, server: str, qname: str, qtype: str, transport: str = "udp",
                  timeout: float | None = None, attempts: int | None = None) -> ServerReply:
        """A direct query to one server address, within that server's concurrency limit, tried up
        to ``attempts`` times (default ``settings.attempts``) while no answer comes back; each try
        waits ``timeout`` (default ``settings.ns_timeout``, ``settings.ns_tcp_timeout`` over TCP)."""
        if timeout is not None:
            wait = timeout
        else:  # a TCP exchange retransmits a lost segment after about a second: it needs the time to
            wait = self.settings.ns_tcp_timeout if transport == "tcp" else self.settings.ns_timeout

        async def once() -> ServerReply:
            return await ask(server, qname, qtype, transport, timeout=wait, mux=self.udp)

        if attempts is None:
            attempts = self.settings.udp_attempts if transport == "udp" else self.settings.attempts
        retry = dataclasses.replace(self.settings.retry, attempts=attempts)
        # an rcode is an answer; only silence, unreachability and garbage are tried again
        reply, n = await retried(once, lambda r: r.status, retry, transient=lambda r: not r.answered)
        return dataclasses.replace(reply, attempts=n)
