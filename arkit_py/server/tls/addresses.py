"""This machine's LAN addresses: the ones students' devices could use to reach the server
(the join URL and the names the server certificate must carry). Needs no network access.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from pathlib import Path


def _usable(text: str) -> str | None:
    """``text`` as a canonical address string if a student device could reach it, else None."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return None
    if ip.version == 6 and (ip.ipv4_mapped is not None or ip.sixtofour is not None or ip.teredo is not None):
        return None
    return str(ip)


def _route_source(family: int, probe: str) -> str | None:
    """The source address the kernel would use towards ``probe`` (a UDP "connect" sends nothing)."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            return s.getsockname()[0]
    except OSError:
        return None


_VIRTUAL = ("docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "podman", "cni", "flannel", "lxc", "tun", "tap")


def _interface_ipv4() -> list[str]:
    """IPv4 addresses of the non-virtual interfaces (Linux ioctl; empty elsewhere)."""
    try:
        import fcntl
        import struct
    except ImportError:
        return []
    found = []
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for name in names:
            if name.startswith(_VIRTUAL):
                continue
            try:
                packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
            except OSError:
                continue
            found.append(socket.inet_ntoa(packed[20:24]))
    return found


def _interface_ipv6() -> list[str]:
    """IPv6 addresses of the non-virtual interfaces from /proc (Linux; empty elsewhere)."""
    found = []
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6 and not parts[5].startswith(_VIRTUAL):
                found.append(str(ipaddress.IPv6Address(bytes.fromhex(parts[0]))))
    return found


def lan_addresses() -> list[str]:
    """This machine's addresses that other devices on the network could use to reach it.

    Non-loopback, non-link-local IPv4 addresses, then global and unique-local IPv6 ones
    (link-local IPv6 needs a zone id, which browsers do not accept in URLs). IPv4 before
    IPv6; within each, the default route's source address first, then the order found
    (interfaces, the host name's addresses); no duplicates. Needs no network access and never raises:
    on any failure the list is just shorter (possibly empty).
    """
    candidates: list[str | None] = [
        _route_source(socket.AF_INET, "10.255.255.255"),
        _route_source(socket.AF_INET, "192.168.255.255"),
    ]
    candidates += _interface_ipv4()
    candidates.append(_route_source(socket.AF_INET6, "2001:db8::1"))
    candidates += _interface_ipv6()
    with contextlib.suppress(Exception):
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM):
            candidates.append(sockaddr[0])
    out: list[str] = []
    for text in candidates:
        ip = _usable(text) if isinstance(text, str) else None
        if ip and ip not in out:
            out.append(ip)
    return sorted(out, key=lambda a: ":" in a)  # IPv4 first; stable within each family


__all__ = ["lan_addresses"]
