"""`chamber tls`: a hall's own certificate authority and the certificates it signs.

    chamber tls ca --dir /etc/chamber/tls
    chamber tls server --dir /etc/chamber/tls --name api --san 10.0.0.5 --san controller.hall
    chamber tls server --dir /etc/chamber/tls --name broker --san 10.0.0.5

`ca` makes `hall-ca.crt` (what the consoles, the walls' browsers and the IP units trust) and
`hall-ca.key` (mode 0600: keep it off the controller once the certificates are made).
`server` makes `NAME.crt` and `NAME.key` (0600), signed by that CA, for the addresses and
names given with `--san` (a client checks the address it connects to against them). Keys are
ECDSA P-256, certificates SHA-256; the CA lasts 10 years, a server certificate 825 days by
default. Nothing is overwritten: an existing file stops the command with one line.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "hall-ca.crt"
CA_KEY = "hall-ca.key"
CA_DAYS = 3650
SERVER_DAYS = 825


class TlsError(Exception):
    """The certificates cannot be made; the message is the one line the technician reads."""


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise TlsError(f"{path}: already exists (nothing is overwritten)") from None
    except OSError as exc:
        raise TlsError(f"{path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _check_free(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise TlsError(f"{path}: already exists (nothing is overwritten)")


def make_ca(directory: Path, name: str, now: datetime.datetime, days: int = CA_DAYS) -> Issued:
    """A self-signed CA for the hall (a CA that may sign server certificates only)."""
    out = Issued(directory / CA_CERT, directory / CA_KEY)
    _check_free(out.cert, out.key)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_new(out.key, _key_pem(key), 0o600)
    _write_new(out.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return out


def _san(text: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not text or len(text) > 253 or any(c.isspace() or c in "/:@" for c in text):
        raise TlsError(f"--san {text!r}: neither an IP address nor a host name")
    return x509.DNSName(text)


def load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise TlsError(
            f"{exc.filename}: no such file (make the CA first: chamber tls ca)"
        ) from None
    except (ValueError, TypeError, OSError) as exc:
        raise TlsError(f"{cert_path}, {key_path}: not a usable CA: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsError(f"{key_path}: not an ECDSA key")
    return cert, key


def make_server(
    directory: Path,
    name: str,
    sans: list[str],
    now: datetime.datetime,
    days: int = SERVER_DAYS,
) -> Issued:
    """`NAME.crt` and `NAME.key`, signed by the hall CA in `directory`, for `sans`."""
    if not sans:
        raise TlsError("give at least one --san: the address or name clients connect to")
    if not name or any(c in "/\\" for c in name) or name.startswith("."):
        raise TlsError(f"--name {name!r}: a plain file name, e.g. api or broker")
    names = [_san(s) for s in sans]
    out = Issued(directory / f"{name}.crt", directory / f"{name}.key")
    _check_free(out.cert, out.key)
    ca_cert, ca_key = load_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sans[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_new(out.key, _key_pem(key), 0o600)
    _write_new(out.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ca = sub.add_parser("ca", help="make the hall's CA (hall-ca.crt, hall-ca.key)")
    ca.add_argument("--dir", type=Path, required=True, help="where the files go")
    ca.add_argument("--cn", default="chamber hall CA", help="the CA's name")
    ca.add_argument("--days", type=int, default=CA_DAYS)
    server = sub.add_parser("server", help="a server certificate signed by the hall CA")
    server.add_argument("--dir", type=Path, required=True, help="the CA's directory")
    server.add_argument("--name", required=True, help="file name: NAME.crt, NAME.key")
    server.add_argument(
        "--san", action="append", default=[], help="an address or host name (repeat)"
    )
    server.add_argument("--days", type=int, default=SERVER_DAYS)


def run(args: argparse.Namespace) -> int:
    now = datetime.datetime.now(datetime.UTC)
    if not 1 <= args.days <= 36500:
        print(f"error: --days {args.days}: between 1 and 36500", file=sys.stderr)
        return 2
    try:
        if args.action == "ca":
            made = make_ca(args.dir, args.cn, now, args.days)
        else:
            made = make_server(args.dir, args.name, args.san, now, args.days)
    except TlsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{made.cert}\n{made.key}")
    return 0
