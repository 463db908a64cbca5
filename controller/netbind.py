"""Where the API (and the display wall it serves) listens: the hall file's `[api] listen`.

`listen` is `HOST:PORT` or `HOST` alone (port 8700): HOST is an IPv4 address, an IPv6 address
in brackets (`[fd00::5]:8700`), or the name of a network interface (`enp2s0:8700`), resolved
to that interface's IPv4 address when the daemon starts. Naming the hall network's interface
keeps the API off every other network the machine is on, as `[mqtt] bind` does for the
embedded broker.

`parse_listen` checks the form only (it is called while the hall file is read);
`resolve_host` asks the kernel for an interface's address (an ioctl, SIOCGIFADDR).
"""

from __future__ import annotations

import fcntl
import ipaddress
import re
import socket
import struct
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700
_SIOCGIFADDR = 0x8915
# Linux interface names: 1 to 15 bytes, no '/', ':' or white space (dev_valid_name).
_IFNAME = re.compile(r"[A-Za-z0-9_.@-]{1,15}")


class ListenError(ValueError):
    """A listen address that cannot be used; the message says why."""


@dataclass(frozen=True)
class Listen:
    """An address (`interface` False) or an interface name (`interface` True), and a port."""

    host: str
    port: int
    interface: bool = False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise ListenError(f"{spec!r}: {text!r} is not a port number (1 to 65535)")
    return int(text)


def parse_listen(spec: str) -> Listen:
    """`10.0.0.5:8000`, `10.0.0.5`, `[fd00::5]:8000`, `enp2s0:8000` or `enp2s0`."""
    spec = spec.strip()
    if not spec:
        raise ListenError("empty: give an address or an interface name, e.g. 10.0.0.5:8700")
    if spec.startswith("["):
        inside, bracket, rest = spec[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ListenError(f"{spec!r}: an IPv6 address goes in brackets: [fd00::5]:8700")
        try:
            host = str(ipaddress.IPv6Address(inside))
        except ValueError:
            raise ListenError(f"{spec!r}: {inside!r} is not an IPv6 address") from None
        return Listen(host, _port(rest[1:], spec) if rest else DEFAULT_PORT)
    if spec.count(":") > 1:
        raise ListenError(f"{spec!r}: an IPv6 address goes in brackets: [fd00::5]:8700")
    name, colon, port_text = spec.partition(":")
    port = _port(port_text, spec) if colon else DEFAULT_PORT
    try:
        return Listen(str(ipaddress.IPv4Address(name)), port)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", name):
        raise ListenError(f"{spec!r}: {name!r} is not an IPv4 address")
    if not _IFNAME.fullmatch(name):
        raise ListenError(
            f"{spec!r}: {name!r} is neither an IP address nor an interface name "
            "(up to 15 letters, digits, '.', '_', '-', '@')"
        )
    return Listen(name, port, interface=True)


def interface_address(name: str) -> str:
    """The IPv4 address of the interface `name`; `ListenError` when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()))
        except OSError as exc:
            if exc.errno == 19:  # ENODEV
                raise ListenError(f"interface {name}: no such interface") from None
            if exc.errno == 99:  # EADDRNOTAVAIL
                raise ListenError(f"interface {name}: has no IPv4 address") from None
            raise ListenError(f"interface {name}: {exc.strerror or exc}") from None
    return socket.inet_ntoa(packed[20:24])


def resolve_host(listen: Listen) -> str:
    """The address to bind: the one given, or the named interface's IPv4 address now."""
    return interface_address(listen.host) if listen.interface else listen.host
