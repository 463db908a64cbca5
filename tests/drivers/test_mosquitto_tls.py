"""The embedded broker's TLS listener (`TlsListener`), with a real Mosquitto.

* A seat's account connects over TLS with its derived password, trusting the hall CA made by
  `chamber tls`, and its publish on its own topic reaches the controller's account, itself
  connected over TLS: per-unit credentials on the TLS listener, as on the plain one.
* A client trusting another CA is refused by its own TLS check; a wrong password is refused by
  the broker; the plain listener still serves.
* The broker reads copies of the certificate and key in its own private directory.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import pwd
import ssl
from pathlib import Path

import aiomqtt
import pytest

from chamber.controller.tls_cli import make_ca, make_server
from chamber.drivers.mosquitto import (
    BROKER_ACCOUNT,
    CONTROLLER_USER,
    LOOPBACK,
    TlsListener,
    free_port,
    hall_broker,
    unit_password,
)
from chamber.protocols.mqtt import seat_username

SECRET = b"0123456789abcdef0123456789abcdef"
HALL = "hall-a"
WAIT_S = 30.0


def pki(where: Path) -> tuple[Path, Path, TlsListener]:
    now = datetime.datetime.now(datetime.UTC)
    ca = make_ca(where / "hall", "test hall CA", now)
    server = make_server(where / "hall", "broker", [LOOPBACK], now)
    other = make_ca(where / "other", "another CA", now)
    return ca.cert, other.cert, TlsListener(free_port(LOOPBACK), server.cert, server.key)


def client(port: int, user: str, password: str, ca: Path | None) -> aiomqtt.Client:
    context = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
    return aiomqtt.Client(
        LOOPBACK,
        port,
        username=user,
        password=password,
        identifier=user,
        tls_context=context,
        timeout=WAIT_S,
    )


async def test_units_over_tls_with_their_own_accounts(private_dir: Path) -> None:
    ca, other_ca, listener = pki(private_dir)
    seat = seat_username(1)
    async with hall_broker(HALL, [1], private_dir / "broker", SECRET, tls=listener) as broker:
        files = broker.files
        conf = (files / "mosquitto.conf").read_text(encoding="utf-8")
        assert f"listener {listener.port} {LOOPBACK}" in conf
        for name in ("tls.crt", "tls.key"):
            st_ = (files / name).stat()
            assert st_.st_mode & 0o777 == 0o600
            if os.geteuid() == 0:
                assert st_.st_uid == pwd.getpwnam(BROKER_ACCOUNT).pw_uid

        controller_password = unit_password(SECRET, CONTROLLER_USER)
        async with client(listener.port, CONTROLLER_USER, controller_password, ca) as ctl:
            await ctl.subscribe(f"chamber/{HALL}/seat/+/unit/#", qos=1)
            async with client(listener.port, seat, unit_password(SECRET, seat), ca) as unit:
                await unit.publish(f"chamber/{HALL}/seat/1/unit/press", b"tls", qos=1)
            async with asyncio.timeout(WAIT_S):
                message = await anext(aiter(ctl.messages))
            assert str(message.topic) == f"chamber/{HALL}/seat/1/unit/press"
            assert message.payload == b"tls"

        # (Checked on a bare TLS connection: paho leaves its socket open after a failed
        # handshake.)
        distrust = ssl.create_default_context(cafile=str(other_ca))
        with pytest.raises(ssl.SSLCertVerificationError, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.wait_for(
                asyncio.open_connection(LOOPBACK, listener.port, ssl=distrust), WAIT_S
            )
        with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori[sz]ed|[Bb]ad user name"):
            async with client(listener.port, seat, "wrong", ca):
                pass
        # The plain listener serves as before.
        async with client(broker.port, seat, unit_password(SECRET, seat), None):
            pass
