"""The certificate a TLS check records (``web.tls``, ``mail.starttls``): one row type, as
:meth:`v6scan.net.CertInfo.to_json` writes it."""

from __future__ import annotations

from dataclasses import dataclass

from v6scan.checks.base import Row

__all__ = ["CertRow"]


@dataclass(frozen=True, kw_only=True)
class CertRow(Row):
    """The server certificate (:meth:`v6scan.net.CertInfo.to_json`)."""

    subject: str = ""
    issuer: str = ""
    names: tuple[str, ...] = ()
    not_before: str = ""
    not_after: str = ""
    days_left: int = 0
    sha256: str = ""
    self_signed: bool = False
    key: str = ""
