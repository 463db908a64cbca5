"""The API over HTTPS when the daemon is given a certificate and its key."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chamber.controller.auth import Role
from chamber.controller.config import HallConfig
from chamber.controller.daemon import Daemon, TlsFiles

from .conftest import make_tokens


def self_signed(directory: Path) -> TlsFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "api.crt", directory / "api.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


async def test_api_is_served_over_https(tmp_path: Path, hall_config: HallConfig) -> None:
    tls = self_signed(tmp_path)
    store, tokens = make_tokens()
    async with Daemon(hall_config, tmp_path / "j", store, tls=tls) as daemon:
        assert daemon.url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(tls.cert))
        headers = {"Authorization": f"Bearer {tokens[Role.OBSERVER]}"}
        async with httpx.AsyncClient(verify=trust, headers=headers) as client:
            response = await client.get(f"{daemon.url}/api/hall")
        assert response.status_code == 200
        assert response.json()["name"] == hall_config.hall.body.name
