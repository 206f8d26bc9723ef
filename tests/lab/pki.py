"""The lab's certificate authority, made fresh at every lab start.

``valid`` leaves are signed by the lab CA; ``expired`` ones too but their
validity ended yesterday; ``wrong-name`` names another host; ``untrusted`` are
self-signed; ``big`` are RSA-4096 leaves under an RSA-4096 intermediate, so
the handshake's certificate flight is far larger than a 1280-byte packet.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA", "make_ca"]

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "v6scan lab"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _pem_key(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca_cert(subject: str, key: Key, issuer: x509.Name, signer: Key, now: dt.datetime,
             path_len: int | None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(signer, hashes.SHA256())


@dataclass
class CA:
    """A lab CA on disk: ``ca.pem`` is the trust anchor tests and the scanner use."""

    directory: Path
    key: Key
    cert: x509.Certificate
    _inter: tuple[Key, x509.Certificate] | None = None

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def _intermediate(self) -> tuple[Key, x509.Certificate]:
        if self._inter is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
            now = dt.datetime.now(dt.UTC)
            cert = _ca_cert("v6scan lab intermediate CA", key, self.cert.subject, self.key, now, 0)
            self._inter = (key, cert)
        return self._inter

    def issue(self, label: str, names: tuple[str, ...], kind: str) -> tuple[Path, Path]:
        """Write ``label.crt`` (leaf + chain) and ``label.key``; return their paths."""
        now = dt.datetime.now(dt.UTC)
        key: Key
        chain: list[x509.Certificate] = []
        issuer_name, signer = self.cert.subject, self.key
        not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
        sans = list(names)
        if kind == "big":
            key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
            inter_key, inter = self._intermediate()
            issuer_name, signer = inter.subject, inter_key
            chain = [inter]
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        if kind == "expired":
            not_before, not_after = now - dt.timedelta(days=60), now - dt.timedelta(days=1)
        elif kind == "wrong-name":
            sans = ["other-host.com.test"]
        elif kind == "untrusted":
            issuer_name, signer = _name(names[0]), key
        elif kind not in ("valid", "big"):
            raise ValueError(f"unknown certificate kind {kind!r}")
        general: list[x509.GeneralName] = []
        for n in sans:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                general.append(x509.DNSName(n))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(sans[0]))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(general), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(signer, hashes.SHA256())
        )
        crt = self.directory / f"{label}.crt"
        keyf = self.directory / f"{label}.key"
        crt.write_bytes(_pem_cert(cert) + b"".join(_pem_cert(c) for c in chain))
        keyf.write_bytes(_pem_key(key))
        keyf.chmod(0o600)
        return crt, keyf


def make_ca(directory: Path) -> CA:
    """Create a new lab CA (EC P-256) in ``directory`` and write ``ca.pem``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name("v6scan lab root CA")
    cert = _ca_cert("v6scan lab root CA", key, name, key, now, 1)
    ca = CA(directory, key, cert)
    ca.ca_file.write_bytes(_pem_cert(cert))
    return ca
