"""Which hosts a job's source may come from: the admin's allow and deny rules. Pure.

A job names a URL; the control plane fetches it. Without rules a user could
make the platform connect anywhere its host can -- the cloud's metadata
service at 169.254.169.254, a database on the private network -- and learn
from the error which ports are open. So private and internal address ranges
are denied by default, names are checked before any lookup, addresses after
it, and the fetch then connects only to an address that was checked.

Rules are shell patterns of host names (``github.com``, ``*.corp.example``)
or IP networks (``10.1.0.0/16``, ``192.0.2.7``). A host is allowed when its
name or all its addresses match ``allowed``; else refused when
``allowed_only``; else refused when its name or any of its addresses matches
``denied``; else allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Loopback, private, link-local (cloud metadata), shared, reserved and multicast.
PRIVATE_NETWORKS: tuple[str, ...] = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
    "64:ff9b::/96", "100::/64",
)
#: Names that always mean this machine or a cloud's internal services.
INTERNAL_NAMES: tuple[str, ...] = ("localhost", "*.localhost", "*.internal", "*.local")
DEFAULT_DENIED: tuple[str, ...] = (*PRIVATE_NETWORKS, *INTERNAL_NAMES)


def parse_address(host: str) -> IPAddress | None:
    """The host as an IP address when it is one (``[::1]`` too), else None."""
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return _unmapped(addr)


def _unmapped(addr: IPAddress) -> IPAddress:
    """``::ffff:10.0.0.1`` is 10.0.0.1: judge it by the IPv4 rules."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@dataclass(frozen=True)
class Rules:
    """``allowed`` / ``denied`` split into name patterns and networks."""

    names: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str], what: str) -> Rules:
        names: list[str] = []
        nets: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                nets.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if any(c in entry for c in "/:@ ") or entry.startswith("."):
                raise ValueError(f"{what}: {raw!r} is neither a host name pattern nor an IP "
                                 "network")
            names.append(entry)
        return cls(tuple(names), tuple(nets))

    def name_matches(self, host: str) -> bool:
        return any(fnmatchcase(host, p) for p in self.names)

    def address_matches(self, addr: IPAddress) -> bool:
        return any(addr.version == n.version and addr in n for n in self.networks)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    #: The decision needs the host's addresses (a DNS lookup) before it is final.
    needs_addresses: bool = False


@dataclass(frozen=True)
class HostPolicy:
    allowed: Rules = field(default_factory=Rules)
    denied: Rules = field(default_factory=lambda: Rules.parse(DEFAULT_DENIED, "denied"))
    allowed_only: bool = False
    #: Where an admin changes the rules, for the messages.
    knob: str = "SourceFetcher.allowed_hosts"

    @classmethod
    def from_config(cls, allowed: Sequence[str], denied: Sequence[str],
                    allowed_only: bool, knob: str = "SourceFetcher.allowed_hosts") -> HostPolicy:
        return cls(Rules.parse(allowed, "allowed_hosts"), Rules.parse(denied, "denied_hosts"),
                   allowed_only, knob)

    def by_name(self, host: str) -> Verdict:
        """What the name alone decides; ``needs_addresses`` when it does not."""
        host = host.lower().rstrip(".")
        addr = parse_address(host)
        if addr is not None:
            return self.by_addresses(host, [addr])
        if self.allowed.name_matches(host):
            return Verdict(True)
        if self.denied.name_matches(host):
            return Verdict(False, f"{host} is not a host job sources may come from "
                                  f"(ask your admin: {self.knob})")
        if self.allowed_only and not self.allowed.networks:
            return Verdict(False, f"{host} is not on this platform's list of hosts job "
                                  f"sources may come from ({self.knob})")
        return Verdict(True, needs_addresses=True)

    def by_addresses(self, host: str, addresses: Sequence[IPAddress]) -> Verdict:
        """The final decision, from the name and every address it resolves to."""
        host = host.lower().rstrip(".")
        addrs = [_unmapped(a) for a in addresses]
        if self.allowed.name_matches(host) or (
                addrs and all(self.allowed.address_matches(a) for a in addrs)):
            return Verdict(True)
        if self.allowed_only:
            return Verdict(False, f"{host} is not on this platform's list of hosts job "
                                  f"sources may come from ({self.knob})")
        if self.denied.name_matches(host):
            return Verdict(False, f"{host} is not a host job sources may come from "
                                  f"(ask your admin: {self.knob})")
        if any(self.denied.address_matches(a) for a in addrs):
            what = "is" if parse_address(host) is not None else "resolves to"
            return Verdict(False, f"{host} {what} a private or internal address, which job "
                                  f"sources may not come from (ask your admin: {self.knob})")
        return Verdict(True)
