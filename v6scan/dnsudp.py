"""Direct DNS queries over shared UDP sockets, and every name server's query limit.

dnspython's ``dns.asyncquery.udp`` opens a socket for each query, and the query held its name
server's slot while the endpoint was made, while the answer waited for the task to run again, and
while the next query in line waited to be woken: in a full-check sweep, whose event loop turns take
tens of milliseconds, a slot was busy for three or four turns per query and the queue at a zone's
first server grew to seconds.  :class:`UdpMux` sends each query on a shared non-blocking socket (one
per address family), hands every datagram that comes back to the query it answers, and when a query
ends (answered, timed out, cancelled) sends the next one waiting for that server at once, from the
same callback: a slot is busy for the round trip and one turn.

The limit (``per_server_concurrency``) counts everything in flight to one server address: UDP
queries sent and not yet ended, and holders of :meth:`UdpMux.slot` (TCP queries).  A server's
entry exists while it is used.

What a query sees is what it saw with a socket of its own (that socket was not connected either),
but for one thing: a reply from another address or port, or with an id no query there has, is
ignored (with a socket of its own a wrong id was ``BadResponse``; shared, it cannot be told from a
late answer to a query that ended).  A reply with the query's id that does not parse fails the query
with the parse error, and one to another question with ``dns.query.BadResponse``; silence is
``dns.exception.Timeout`` ``timeout`` seconds after the query was sent; an error from ``sendto`` (no
route, a firewall's refusal) is the ``OSError``.  A datagram too short to carry an id fails every
query in flight to its sender, which each would have read.

A socket is replaced after ``rotate`` queries (and closed when its last query ends), so the source
port of the sweep's queries changes as it did with a socket per query, a few hundred queries apart
instead of every one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import secrets
import socket
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.query

__all__ = ["UdpMux"]

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535
Key = tuple[str, int, int]  # (server address, port, message id)


@dataclass(eq=False)
class _Job:
    """One UDP query: waiting for a slot, then sent (``key`` set) until it ends."""

    q: dns.message.Message
    host: str
    port: int
    family: int
    timeout: float
    fut: asyncio.Future[dns.message.Message]
    sock: _Socket | None = None
    key: Key | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class _Socket:
    sock: socket.socket
    family: int
    pending: dict[Key, _Job] = field(default_factory=dict)
    sent: int = 0
    retired: bool = False


@dataclass(eq=False)
class _Server:
    inflight: int = 0
    #: UDP queries to send, and TCP slot holders to wake, in the order they came
    waiting: deque[_Job | asyncio.Future[None]] = field(default_factory=deque)


@functools.lru_cache(maxsize=4096)
def _canonical(server: str) -> tuple[str, int]:
    """The address as the kernel reports a sender (compressed, lower case) and its family."""
    a = ipaddress.ip_address(server)
    return a.compressed, socket.AF_INET6 if a.version == 6 else socket.AF_INET


class UdpMux:
    """Direct DNS queries over UDP on one socket per address family, at most ``limit`` in flight to
    each server address (TCP queries count too: they hold a :meth:`slot`).

    Use from one event loop; :meth:`close` fails what is still in flight and closes the sockets."""

    def __init__(self, limit: int = 8, rotate: int = 512) -> None:
        self.limit = max(1, limit)
        self.rotate = rotate
        self._current: dict[int, _Socket] = {}
        self._all: set[_Socket] = set()
        self._servers: dict[str, _Server] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def sockets(self) -> int:
        """Sockets open now (the current one per family and retired ones with queries in flight)."""
        return len(self._all)

    @property
    def servers(self) -> int:
        """Server addresses with queries in flight or waiting (entries are dropped when idle)."""
        return len(self._servers)

    # -- the per-server limit --------------------------------------------------------------

    def _take(self, host: str) -> bool:
        """Take a slot of ``host`` when one is free and nobody waits for it (its entry is made)."""
        srv = self._servers.get(host)
        if srv is None:
            srv = self._servers[host] = _Server()
        if srv.inflight < self.limit and not srv.waiting:
            srv.inflight += 1
            return True
        return False

    def _release(self, host: str) -> None:
        """A query or slot holder of ``host`` ended: the next ones waiting go now."""
        srv = self._servers.get(host)
        if srv is None:
            return
        srv.inflight -= 1
        while srv.inflight < self.limit and srv.waiting:
            w = srv.waiting.popleft()
            if isinstance(w, _Job):
                if w.fut.done():
                    continue
                srv.inflight += 1
                if not self._send(w):  # failed at once: its slot is free again
                    srv.inflight -= 1
            elif not w.done():
                srv.inflight += 1
                w.set_result(None)
        if srv.inflight == 0 and not srv.waiting:
            del self._servers[host]

    @contextlib.asynccontextmanager
    async def slot(self, server: str) -> AsyncIterator[None]:
        """Hold one of ``server``'s query slots (a TCP query)."""
        host = _canonical(server)[0]
        if not self._take(host):
            self._loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._servers[host].waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # given a slot, then cancelled
                    self._release(host)
                else:
                    self._forget_waiting(host, waiter)
                raise
        try:
            yield
        finally:
            self._release(host)

    def _forget_waiting(self, host: str, w: _Job | asyncio.Future[None]) -> None:
        srv = self._servers.get(host)
        if srv is None:
            return
        with contextlib.suppress(ValueError):
            srv.waiting.remove(w)
        if srv.inflight == 0 and not srv.waiting:
            del self._servers[host]

    # -- sockets ---------------------------------------------------------------------------

    def _socket(self, family: int) -> _Socket:
        s = self._current.get(family)
        if s is not None and s.sent < self.rotate:
            return s
        if s is not None:
            s.retired = True
            del self._current[family]
            if not s.pending:
                self._close_socket(s)
        sock = socket.socket(family, socket.SOCK_DGRAM)  # bound to a random port by its first send
        sock.setblocking(False)
        s = _Socket(sock, family)
        assert self._loop is not None
        self._loop.add_reader(sock.fileno(), self._readable, s)
        self._current[family] = s
        self._all.add(s)
        return s

    def _close_socket(self, s: _Socket) -> None:
        if s in self._all:
            self._all.discard(s)
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(s.sock.fileno())
            s.sock.close()

    def _readable(self, s: _Socket) -> None:
        while True:
            try:
                data, addr = s.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # an error queued on the socket: no query to give it to
                log.debug("direct DNS socket: %s", e)
                return
            self._deliver(s, data, addr[0], addr[1])

    def _deliver(self, s: _Socket, data: bytes, host: str, port: int) -> None:
        if len(data) < 2:  # no id: every query in flight to the sender would have read it
            for waiting in [j for k, j in s.pending.items() if k[0] == host and k[1] == port]:
                self._end(waiting, error=dns.message.ShortHeader())  # type: ignore[no-untyped-call]
            return
        job = s.pending.get((host, port, int.from_bytes(data[:2], "big")))
        if job is None:
            return  # a late answer to a query that ended, or from an address nobody asked
        try:
            r = dns.message.from_wire(data, ignore_trailing=True)
        except Exception as e:  # the query's own malformed answer, whatever dnspython raises for it
            self._end(job, error=e)
            return
        if job.q.is_response(r):
            self._end(job, result=r)
        else:  # the query's id, another question: dnspython's BadResponse, as before
            self._end(job, error=dns.query.BadResponse())  # type: ignore[no-untyped-call]

    # -- one query -------------------------------------------------------------------------

    def _send(self, job: _Job) -> bool:
        """Send ``job`` (its slot is taken).  False when it failed at once (it has its error and its
        slot is the caller's to release)."""
        try:
            s = self._socket(job.family)
        except OSError as e:
            if not job.fut.done():
                job.fut.set_exception(e)
            return False
        key = (job.host, job.port, job.q.id)
        while key in s.pending:
            job.q.id = secrets.randbelow(65536)
            key = (job.host, job.port, job.q.id)
        job.sock, job.key = s, key
        s.pending[key] = job
        s.sent += 1
        assert self._loop is not None
        job.timer = self._loop.call_later(job.timeout, functools.partial(
            self._end, job, error=dns.exception.Timeout(timeout=job.timeout)))  # type: ignore[no-untyped-call]
        return self._transmit(job, job.q.to_wire())

    def _transmit(self, job: _Job, wire: bytes) -> bool:
        if job.sock is None or job.sock.pending.get(job.key) is not job:  # type: ignore[arg-type]
            return True  # ended meanwhile (timed out, cancelled)
        try:
            job.sock.sock.sendto(wire, (job.host, job.port))
        except (BlockingIOError, InterruptedError):  # the send buffer is full: the scanner's own wait
            assert self._loop is not None
            self._loop.call_later(0.001, self._retransmit, job, wire)
        except OSError as e:  # no route, a firewall's refusal: the caller's status
            self._settle(job, error=e)
            return False
        return True

    def _retransmit(self, job: _Job, wire: bytes) -> None:
        if not self._transmit(job, wire):
            self._release(job.host)

    def _settle(self, job: _Job, *, result: dns.message.Message | None = None,
                error: BaseException | None = None) -> bool:
        """Give ``job`` its outcome; True when it was in flight (its slot is then free)."""
        s, key = job.sock, job.key
        if s is None or key is None or s.pending.get(key) is not job:
            return False
        del s.pending[key]
        if job.timer is not None:
            job.timer.cancel()
        if not job.fut.done():
            if error is not None:
                job.fut.set_exception(error)
            else:
                job.fut.set_result(result)  # type: ignore[arg-type]
        if s.retired and not s.pending:
            self._close_socket(s)
        return True

    def _end(self, job: _Job, *, result: dns.message.Message | None = None,
             error: BaseException | None = None) -> None:
        """``job`` ended (answered, failed, timed out, cancelled): its slot goes to the next one."""
        if self._settle(job, result=result, error=error):
            self._release(job.host)

    async def query(self, q: dns.message.Message, server: str, port: int, timeout: float) -> dns.message.Message:
        """Send ``q`` to ``server``:``port`` when the server has a free slot, and wait at most
        ``timeout`` seconds after sending for its answer (``q.id`` is changed when another query
        in flight there has it)."""
        if self._closed:
            raise RuntimeError("the direct DNS sockets are closed")
        host, family = _canonical(server)
        self._loop = asyncio.get_running_loop()
        job = _Job(q, host, port, family, timeout, self._loop.create_future())
        if self._take(host):
            if not self._send(job):
                self._release(host)
        else:
            self._servers[host].waiting.append(job)
        try:
            return await job.fut
        finally:
            if job.key is None:  # cancelled while waiting for a slot
                self._forget_waiting(host, job)
            elif job.sock is not None and job.sock.pending.get(job.key) is job:  # cancelled in flight
                self._end(job, error=asyncio.CancelledError())

    async def close(self) -> None:
        """Fail every query waiting or in flight and close the sockets."""
        self._closed = True
        err = ConnectionAbortedError("the scanner closed its DNS sockets")
        for srv in self._servers.values():
            for w in srv.waiting:
                fut = w.fut if isinstance(w, _Job) else w
                if not fut.done():
                    fut.set_exception(err)
            srv.waiting.clear()
        for s in list(self._all):
            for job in list(s.pending.values()):
                self._settle(job, error=err)
            self._close_socket(s)
        self._servers.clear()
        self._current.clear()
