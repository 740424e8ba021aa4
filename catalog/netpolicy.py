"""Which hosts a department's discovered snapshot URLs may point camgrid at.

A department's `defaults.allow_networks` lists the networks its cameras live
in. Snapshot URLs that camgrid did not read from the department's own file --
rows of an inventory, URIs an ONVIF device hands back -- are checked against
it, so that a platform's answer cannot send camgrid's requests (with the
department's camera credentials) to an arbitrary host.

The rule, decided here once:

- no networks listed: no policy, every URL is allowed (as before the option
  existed);
- networks listed: the URL's host must be a literal IP address (IPv4, or
  IPv6 in brackets) inside one of them. A host name is refused, because what
  it resolves to when checked need not be what it resolves to when fetched
  (DNS rebinding); nothing is resolved here. An IPv4-mapped IPv6 address is
  judged as the IPv4 address it carries;
- a URL that cannot be parsed, or has no host, is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["NOT_ALLOWED", "Network", "url_allowed"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The problem text for a refused URL, as inventories report it.
NOT_ALLOWED = "snapshot_url host not in allow_networks"


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def url_allowed(url: str, networks: Sequence[Network]) -> bool:
    """Whether `url` may be fetched under a department's `allow_networks`.

    See the module's docstring for the rule; this function does no I/O.
    """
    if not networks:
        return True
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    address = _address(host)
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in networks)
