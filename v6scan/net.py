"""Sockets, pinned to one address: TCP connects, TLS handshakes, and an asyncio backend for httpcore.

Nothing here resolves names: every function takes an IP address literal and
refuses anything else.  One error classifier maps exceptions to the status
vocabulary (like zgrab2's), so every check words failures the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import errno
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from v6scan.attempts import cancelled_by_us
from v6scan.model import JSON, Status

__all__ = [
    "AsyncioBackend",
    "CertInfo",
    "Probe",
    "TlsResult",
    "classify_error",
    "make_ssl_contexts",
    "tcp_connect",
    "tls_handshake",
]

_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN,
                errno.EHOSTDOWN, errno.EAFNOSUPPORT}


@functools.lru_cache(maxsize=4096)
def _literal(host: str) -> str:
    """``host`` as a compressed address literal (remembered: every connection asks)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).compressed
    except ValueError:
        raise ValueError(f"refusing to resolve {host!r}: connect to an address only") from None


def classify_error(exc: BaseException) -> tuple[Status, str]:
    """(status, human-readable reason) for an exception raised by a network step."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Status.TLS_ERROR, f"certificate not valid: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return Status.TLS_ERROR, f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, TimeoutError | httpcore.TimeoutException):
        return Status.TIMEOUT, "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return Status.REFUSED, "connection refused"
    if isinstance(exc, ConnectionResetError):
        return Status.ERROR, "connection reset by the peer"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return Status.UNREACHABLE, f"unreachable ({exc.strerror})"
    if isinstance(exc, httpcore.ConnectError):
        cause = exc.__cause__ or exc.__context__
        if cause is not None and cause is not exc:
            return classify_error(cause)
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return Status.TLS_ERROR, f"certificate not valid: {text}"
        if "Connection refused" in text:
            return Status.REFUSED, "connection refused"
        return Status.ERROR, text or "connection failed"
    if isinstance(exc, httpcore.RemoteProtocolError | httpcore.LocalProtocolError):
        if "Receive buffer too long" in str(exc):
            return Status.HTTP_ERROR, "response headers exceed the caps (more than 100 KiB)"
        return Status.HTTP_ERROR, f"HTTP protocol error: {exc}"
    if isinstance(exc, httpcore.ReadError | httpcore.WriteError):
        return Status.ERROR, f"connection broken: {exc or exc.__class__.__name__}"
    if isinstance(exc, EOFError | asyncio.IncompleteReadError):
        return Status.ERROR, "the peer closed the connection"
    if isinstance(exc, OSError):
        return Status.ERROR, exc.strerror or str(exc)
    return Status.ERROR, f"{exc.__class__.__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class Probe:
    """One timed network step against one address."""

    address: str
    port: int
    status: Status
    elapsed_ms: float
    error: str | None = None
    attempts: int = 1  # tries made (see v6scan.attempts); the last one is this probe's outcome

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {"status": str(self.status), "elapsed_ms": round(self.elapsed_ms, 3),
                                "attempts": self.attempts, "successes": int(self.status is Status.OK)}
        if self.error:
            out["error"] = self.error
        return out


async def open_socket(address: str, port: int, timeout: float, mss: int | None = None
                      ) -> socket.socket:
    """A connected non-blocking TCP socket to ``address`` (a literal), or an exception."""
    addr = _literal(address)
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    if mss:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    try:
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, (addr, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _ready(sock: socket.socket, write: bool) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    fd = sock.fileno()
    (loop.add_writer if write else loop.add_reader)(fd, wake)
    try:
        await fut
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def sock_recvfrom(sock: socket.socket, size: int) -> tuple[bytes, Any]:
    """``recvfrom`` on a non-blocking socket, for any event loop (uvloop has no ``sock_recvfrom``)."""
    while True:
        try:
            return sock.recvfrom(size)
        except (BlockingIOError, InterruptedError):
            await _ready(sock, write=False)


async def sock_sendto(sock: socket.socket, data: bytes, address: Any) -> int:
    """``sendto`` on a non-blocking socket, for any event loop."""
    while True:
        try:
            return sock.sendto(data, address)
        except (BlockingIOError, InterruptedError):
            await _ready(sock, write=True)


async def tcp_connect(address: str, port: int, timeout: float) -> Probe:
    """TCP handshake only: open, record, close."""
    t0 = time.perf_counter()
    try:
        sock = await open_socket(address, port, timeout)
    except (OSError, TimeoutError) as e:
        status, reason = classify_error(e)
        return Probe(address, port, status, (time.perf_counter() - t0) * 1000, reason)
    sock.close()
    return Probe(address, port, Status.OK, (time.perf_counter() - t0) * 1000)


def make_ssl_contexts(ca_bundle: str | None = None, alpn: tuple[str, ...] = ("http/1.1",)
                      ) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(verifying context, non-verifying context), offering ``alpn`` (none for SMTP): built once per scan."""
    verify = ssl.create_default_context(cafile=ca_bundle)
    verify.minimum_version = ssl.TLSVersion.TLSv1_2
    loose = ssl.create_default_context()
    loose.check_hostname = False
    loose.verify_mode = ssl.CERT_NONE
    loose.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    if alpn:
        for c in (verify, loose):
            c.set_alpn_protocols(list(alpn))
    return verify, loose


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject: str
    issuer: str
    names: tuple[str, ...]
    not_before: str
    not_after: str
    days_left: int
    sha256: str
    self_signed: bool
    key: str

    @classmethod
    def from_der(cls, der: bytes) -> CertInfo:
        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = tuple([*san.get_values_for_type(x509.DNSName),
                           *(str(a) for a in san.get_values_for_type(x509.IPAddress))])
        except x509.ExtensionNotFound:
            names = ()
        nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
        days = int((na.timestamp() - time.time()) // 86400)
        pub = cert.public_key()
        size = getattr(pub, "key_size", None)
        kind = pub.__class__.__name__.replace("_", "").replace("PublicKey", "")
        key = kind + (f"-{size}" if size else "")
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            names=names,
            not_before=nb.isoformat(),
            not_after=na.isoformat(),
            days_left=days,
            sha256=cert.fingerprint(hashes.SHA256()).hex(),
            self_signed=cert.issuer == cert.subject,
            key=key,
        )

    def to_json(self) -> dict[str, JSON]:
        return {"subject": self.subject, "issuer": self.issuer, "names": list(self.names),
                "not_before": self.not_before, "not_after": self.not_after,
                "days_left": self.days_left, "sha256": self.sha256, "self_signed": self.self_signed,
                "key": self.key}


@functools.lru_cache(maxsize=4096)
def _parsed(der: bytes) -> CertInfo:
    return CertInfo.from_der(der)


def cert_info(der: bytes) -> CertInfo:
    """Parsed once per distinct certificate (one certificate often serves many names); the days
    left are counted now."""
    info = _parsed(der)
    days = int((dt.datetime.fromisoformat(info.not_after).timestamp() - time.time()) // 86400)
    return info if days == info.days_left else dataclasses.replace(info, days_left=days)


#: OpenSSL verify codes we name (x509_vfy.h)
VERIFY_CODES = {
    9: "not_yet_valid", 10: "expired", 18: "self_signed", 19: "self_signed_in_chain",
    20: "unknown_issuer", 21: "unknown_issuer", 62: "name_mismatch", 2: "unknown_issuer",
}


@dataclass(frozen=True, slots=True)
class TlsResult:
    address: str
    name: str
    status: Status
    valid: bool | None
    problem: str | None
    verify_code: int | None
    protocol: str | None
    cipher: str | None
    cert: CertInfo | None
    elapsed_ms: float
    error: str | None
    attempts: int = 1

    def to_json(self) -> dict[str, JSON]:
        return {
            "address": self.address, "status": str(self.status), "valid": self.valid,
            "problem": self.problem, "verify_code": self.verify_code, "protocol": self.protocol,
            "cipher": self.cipher, "cert": self.cert.to_json() if self.cert else None,
            "elapsed_ms": round(self.elapsed_ms, 3), "attempts": self.attempts,
            "successes": int(self.status is Status.OK),
            **({"error": self.error} if self.error else {}),
        }


async def _handshake(address: str, name: str, context: ssl.SSLContext, timeout: float,
                     port: int = 443) -> tuple[ssl.SSLObject | None, asyncio.StreamWriter]:
    sock = await open_socket(address, port, timeout)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(sock=sock, ssl=context, server_hostname=name,
                                                      ssl_handshake_timeout=timeout)
    except BaseException:
        sock.close()
        raise
    return writer.get_extra_info("ssl_object"), writer


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close and wait (at most a second) for the transport to go.

    The wait can end in a CancelledError that nobody asked for: when a TLS connection is aborted
    (a packet lost at the wrong moment), asyncio may cancel the stream's close-waiter future
    itself.  That is no reason to abandon the target; a real cancellation of this task
    (``cancelling()``) still propagates."""
    writer.close()
    try:
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
    except (OSError, TimeoutError, ssl.SSLError):
        pass
    except asyncio.CancelledError:
        if cancelled_by_us():
            raise


async def tls_handshake(address: str, name: str, verify: ssl.SSLContext, loose: ssl.SSLContext,
                        timeout: float, port: int = 443) -> TlsResult:
    """A handshake with SNI ``name``, validating chain and name; on failure the certificate is
    fetched again without validation so the evidence shows what the server presents."""
    t0 = time.perf_counter()

    def done(status: Status, valid: bool | None, problem: str | None, code: int | None,
             obj: ssl.SSLObject | None, error: str | None) -> TlsResult:
        cert = None
        if obj is not None:
            der = obj.getpeercert(binary_form=True)
            cert = cert_info(der) if der else None
        c = obj.cipher() if obj is not None else None
        return TlsResult(address, name, status, valid, problem, code,
                         obj.version() if obj is not None else None, c[0] if c else None, cert,
                         (time.perf_counter() - t0) * 1000, error)

    try:
        obj, writer = await _handshake(address, name, verify, timeout, port)
    except ssl.SSLCertVerificationError as e:
        code = e.verify_code
        problem = VERIFY_CODES.get(code, "invalid")
        try:
            obj2, writer2 = await _handshake(address, name, loose, timeout, port)
        except (OSError, TimeoutError, ssl.SSLError):
            return done(Status.OK, False, problem, code, None, f"certificate not valid: {e.verify_message}")
        try:
            return done(Status.OK, False, problem, code, obj2, f"certificate not valid: {e.verify_message}")
        finally:
            await _close(writer2)
    except (OSError, TimeoutError, ssl.SSLError) as e:
        status, reason = classify_error(e)
        if status is Status.ERROR and isinstance(e, ssl.SSLError):
            status = Status.TLS_ERROR
        return done(status, None, None, None, None, reason)
    try:
        return done(Status.OK, True, None, None, obj, None)
    finally:
        await _close(writer)


# --------------------------------------------------------------------------- httpcore backend


_EXC = {
    "connect": (httpcore.ConnectTimeout, httpcore.ConnectError),
    "read": (httpcore.ReadTimeout, httpcore.ReadError),
    "write": (httpcore.WriteTimeout, httpcore.WriteError),
}


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as e:
            raise httpcore.ReadTimeout("read timed out") from e
        except (OSError, ssl.SSLError) as e:
            raise httpcore.ReadError(str(e)) from e

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as e:
            raise httpcore.WriteTimeout("write timed out") from e
        except (OSError, ssl.SSLError) as e:
            raise httpcore.WriteError(str(e)) from e

    async def aclose(self) -> None:
        await _close(self._writer)

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname,
                                             ssl_handshake_timeout=timeout)
        except TimeoutError as e:
            raise httpcore.ConnectTimeout("TLS handshake timed out") from e
        except (OSError, ssl.SSLError) as e:
            raise httpcore.ConnectError(str(e)) from e
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            return self._reader.at_eof()
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on plain asyncio streams: no thread-pool name lookup, and no
    name lookup at all: a host that is not an address literal is refused."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        try:
            addr = _literal(host)
        except ValueError as e:
            raise httpcore.ConnectError(str(e)) from e
        try:
            sock = await open_socket(addr, port, timeout if timeout is not None else 30.0)
        except TimeoutError as e:
            raise httpcore.ConnectTimeout("connect timed out") from e
        except OSError as e:
            raise httpcore.ConnectError(str(e)) from e
        try:
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
        except BaseException:
            sock.close()
            raise
        return _Stream(reader, writer)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by v6scan")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

