"""The hall's TLS set-up, end to end: `chamber tls` makes a hall CA and the API's certificate,
the hall file's `[api]` names them, and `chamber run` serves HTTPS and WSS.

* A plain HTTPS client that trusts the hall CA reads the state; the console (`--ca`) follows
  the stream over WSS.
* A client trusting another CA is refused, and the console says why in one line.
* `chamber tls` overwrites nothing and refuses a server certificate without an address.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
from pathlib import Path

import aiomqtt
import httpx
import pytest
from cryptography import x509

from chamber.console.client import ApiClient, Link
from chamber.controller.config import ConfigError, load_config
from chamber.drivers.mosquitto import free_port, unit_password
from chamber.protocols.mqtt import seat_username

from .test_network import daemon, open_dir, with_api
from .test_startup import READY_TIMEOUT, ROOT, chamber_command, env, hall_file

__all__ = ["open_dir"]


def chamber(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        chamber_command(*args),
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT,
        check=False,
    )


def make_hall_pki(where: Path, *sans: str) -> Path:
    assert chamber("tls", "ca", "--dir", str(where)).returncode == 0
    sans_args = [a for s in sans for a in ("--san", s)]
    done = chamber("tls", "server", "--dir", str(where), "--name", "api", *sans_args)
    assert done.returncode == 0, done.stderr
    return where / "hall-ca.crt"


def tokens_of(data: Path) -> dict[str, str]:
    text = (data / "tokens.json.new").read_text(encoding="utf-8")
    return dict(re.findall(r"^\s+(\w+)\s+(\S{40,})$", text, re.M))


def test_the_certificates_chamber_tls_makes(tmp_path: Path) -> None:
    ca = make_hall_pki(tmp_path / "tls", "127.0.0.1", "controller.hall")
    cert = x509.load_pem_x509_certificate((tmp_path / "tls/api.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["controller.hall"]
    issuer = x509.load_pem_x509_certificate(ca.read_bytes())
    cert.verify_directly_issued_by(issuer)
    for key in ("hall-ca.key", "api.key"):
        assert (tmp_path / "tls" / key).stat().st_mode & 0o777 == 0o600
    # Nothing is overwritten, and a certificate names where it is reached.
    again = chamber("tls", "ca", "--dir", str(tmp_path / "tls"))
    assert again.returncode == 2
    assert re.fullmatch(
        r"error: .*hall-ca\.crt: already exists \(nothing is overwritten\)\n", again.stderr
    )
    bare = chamber("tls", "server", "--dir", str(tmp_path / "tls"), "--name", "other")
    assert bare.returncode == 2
    assert "give at least one --san" in bare.stderr
    no_ca = chamber("tls", "server", "--dir", str(tmp_path / "none"), "--name", "x", "--san", "h")
    assert no_ca.returncode == 2
    assert "hall-ca.crt: no such file (make the CA first: chamber tls ca)" in no_ca.stderr


async def test_https_and_wss_with_the_hall_ca_and_a_wrong_ca_refused(open_dir: Path) -> None:
    ca = make_hall_pki(open_dir / "tls", "127.0.0.1")
    wrong = open_dir / "other"
    assert chamber("tls", "ca", "--dir", str(wrong), "--cn", "not the hall").returncode == 0
    port = free_port()
    config = with_api(
        hall_file(open_dir),
        f'listen = "127.0.0.1:{port}"\ntls_cert = "tls/api.crt"\ntls_key = "tls/api.key"',
    )
    data = open_dir / "data"
    async with daemon(config, data) as ready:
        url = f"https://127.0.0.1:{port}"
        assert ready["url"] == url
        tokens = tokens_of(data)
        headers = {"Authorization": f"Bearer {tokens['observer']}"}
        trust = ssl.create_default_context(cafile=str(ca))
        async with httpx.AsyncClient(verify=trust, headers=headers) as client:
            state = await client.get(f"{url}/api/state")
        assert state.status_code == 200
        assert state.json()["type"] == "snapshot"
        # Plain HTTP on the TLS port gets no API.
        async with httpx.AsyncClient(headers=headers) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(f"http://127.0.0.1:{port}/api/state")
        distrust = ssl.create_default_context(cafile=str(wrong / "hall-ca.crt"))
        async with httpx.AsyncClient(verify=distrust, headers=headers) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"{url}/api/state")

        console = ApiClient(url, tokens["chair"], ca_file=str(ca))
        console.start()
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await console.wait_for(lambda c: c.link is Link.CONNECTED and c.mirror.ready)
            assert console.hall is not None
        finally:
            await console.close()

        refused = ApiClient(url, tokens["chair"], ca_file=str(wrong / "hall-ca.crt"))
        refused.start()
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await refused.wait_for(lambda c: c.link is Link.DISCONNECTED)
            assert refused.link_detail.startswith(
                "the daemon's certificate is not trusted (is --ca the hall CA?): "
            ), refused.link_detail
            assert "unable to get local issuer certificate" in refused.link_detail
        finally:
            await refused.close()


def test_the_console_refuses_a_missing_ca_file(tmp_path: Path) -> None:
    done = chamber(
        "console", "--url", "https://127.0.0.1:1", "--token", "x", "--ca", str(tmp_path / "no")
    )
    assert done.returncode == 2
    assert done.stderr == f"error: --ca {tmp_path / 'no'}: no such file\n"


async def test_the_daemons_broker_listens_over_tls_for_ip_units(open_dir: Path) -> None:
    """`[mqtt] tls_port`, `tls_cert`, `tls_key`: the embedded broker's TLS listener; an IP
    seat's account (its password derived from the hall secret) connects there."""
    ca = make_hall_pki(open_dir / "tls", "127.0.0.1")
    done = chamber(
        "tls", "server", "--dir", str(open_dir / "tls"), "--name", "broker", "--san", "127.0.0.1"
    )
    assert done.returncode == 0, done.stderr
    tls_port = free_port()
    config = hall_file(open_dir)
    # hall_file ends with its [mqtt] table: these keys go into it.
    config.write_text(
        config.read_text("utf-8")
        + f'tls_port = {tls_port}\ntls_cert = "tls/broker.crt"\ntls_key = "tls/broker.key"\n',
        "utf-8",
    )
    data = open_dir / "data"
    async with daemon(config, data):
        seat = seat_username(45)
        password = unit_password((data / "mqtt-secret").read_bytes(), seat)
        context = ssl.create_default_context(cafile=str(ca))
        async with aiomqtt.Client(
            "127.0.0.1",
            tls_port,
            username=seat,
            password=password,
            identifier=seat,
            tls_context=context,
            timeout=READY_TIMEOUT,
        ) as unit:
            await unit.subscribe("chamber/hdnd-ninh-binh/controller/status", qos=1)
            async with asyncio.timeout(READY_TIMEOUT):
                status = await anext(aiter(unit.messages))
            # The controller's retained status reaches the unit over TLS.
            assert status.retain
        with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori[sz]ed|[Bb]ad user name"):
            async with aiomqtt.Client(
                "127.0.0.1",
                tls_port,
                username=seat,
                password="wrong",
                tls_context=context,
                timeout=READY_TIMEOUT,
            ):
                pass


def test_the_brokers_tls_keys_go_together(tmp_path: Path) -> None:
    config = hall_file(tmp_path)
    text = config.read_text("utf-8")
    config.write_text(text + "tls_port = 8883\n", "utf-8")
    with pytest.raises(ConfigError, match="tls_port, tls_cert and tls_key go together"):
        load_config(config)
    port = re.search(r"^port = (\d+)$", text, re.M)
    assert port is not None
    config.write_text(
        text + f'tls_port = {port[1]}\ntls_cert = "a.crt"\ntls_key = "a.key"\n', "utf-8"
    )
    with pytest.raises(ConfigError, match="is already the plain port"):
        load_config(config)
