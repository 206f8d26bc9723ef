"""Who may use the service: API tokens, per-token rate limits and browser sessions.

Tokens come from ``--token-file``: one a line, ``NAME:SECRET`` (or a bare ``SECRET``, named by a
digest of it); blank lines and ``#`` comments are skipped.  A secret has at least
:data:`TOKEN_MIN` characters.  A presented token is compared with every known one through
``hmac.compare_digest`` on their SHA-256 digests, so the time taken says nothing about how much of
a secret matched, nor which.  Only a token's name is ever logged or stored.

The web pages use a session cookie instead (a browser cannot send a bearer header from a form):
logging in with a token gives a random session id (``HttpOnly``, ``SameSite=Strict``, ``Secure``
over HTTPS) that maps to the token's name on the server, and every form carries a CSRF field made
from the session id with a server secret.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from v6scan.errors import V6scanError

__all__ = ["TOKEN_MIN", "RateLimiter", "Sessions", "TokenError", "Tokens"]

TOKEN_MIN = 16


class TokenError(V6scanError, ValueError):
    """A token file that cannot be used."""


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class Tokens:
    """The API tokens: name -> secret (only their digests are kept)."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        if not tokens:
            raise TokenError("no API token: give --token-file with one NAME:SECRET a line")
        short = [n for n, s in tokens.items() if len(s) < TOKEN_MIN]
        if short:
            raise TokenError(f"token {short[0]!r} is shorter than {TOKEN_MIN} characters")
        self._known = [(name, _digest(secret)) for name, secret in tokens.items()]

    @classmethod
    def load(cls, path: Path) -> Tokens:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise TokenError(f"{path}: {e}") from None
        tokens: dict[str, str] = {}
        for no, line in enumerate(text.splitlines(), 1):
            item = line.strip()
            if not item or item.startswith("#"):
                continue
            name, sep, secret = item.partition(":")
            if not sep:
                name, secret = "token-" + hashlib.sha256(item.encode()).hexdigest()[:8], item
            name, secret = name.strip(), secret.strip()
            if not name or any(c.isspace() for c in secret) or not secret:
                raise TokenError(f"{path}:{no}: give NAME:SECRET (a secret without spaces)")
            if name in tokens:
                raise TokenError(f"{path}:{no}: token name {name!r} given twice")
            tokens[name] = secret
        return cls(tokens)

    def identify(self, presented: str) -> str | None:
        """The name of the token ``presented`` is, or None; every known token is compared, in constant
        time, whatever matches."""
        d = _digest(presented)
        found: str | None = None
        for name, known in self._known:
            if hmac.compare_digest(d, known) and found is None:
                found = name
        return found

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self._known]


@dataclass
class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute, as many at once."""

    per_minute: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, now: float | None = None) -> float:
        """0 when the request may go ahead (one taken from the bucket), else the seconds to wait."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        level, at = self._buckets.get(key, (float(self.per_minute), now))
        level = min(float(self.per_minute), level + (now - at) * rate)
        if level >= 1.0:
            self._buckets[key] = (level - 1.0, now)
            return 0.0
        self._buckets[key] = (level, now)
        return math.ceil((1.0 - level) / rate * 10) / 10 if rate > 0 else 60.0


@dataclass
class Sessions:
    """Browser sessions: a random id per login, mapped to the token's name; ``ttl`` seconds each."""

    ttl: float = 12 * 3600
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _live: dict[str, tuple[str, float]] = field(default_factory=dict)

    def open(self, owner: str) -> str:
        now = time.monotonic()
        self._live = {k: v for k, v in self._live.items() if v[1] > now}
        sid = secrets.token_urlsafe(32)
        self._live[sid] = (owner, now + self.ttl)
        return sid

    def owner(self, sid: str | None) -> str | None:
        if not sid:
            return None
        found = self._live.get(sid)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def close(self, sid: str | None) -> None:
        if sid:
            self._live.pop(sid, None)

    def csrf(self, sid: str) -> str:
        return hmac.new(self._secret, sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, sid: str | None, value: str | None) -> bool:
        if not sid or not value:
            return False
        return hmac.compare_digest(self.csrf(sid).encode(), value.encode("utf-8", "surrogatepass"))
