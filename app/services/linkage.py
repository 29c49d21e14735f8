"""Device and network identifiers, kept only as keyed hashes that change every day.

The key of a day is derived from ``LINKAGE_KEY`` (``SECRET_KEY`` by default) and the date, so the
same phone gets the same hash all day (enough for "one response per device per centre per
day" and for the fraud checks of that day) but unrelated hashes on other days. Raw cookies and
IP addresses are never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import date

DEVICE_COOKIE = "sipas_device"


def _day_key(config, day: date) -> bytes:
    master = (config.get("LINKAGE_KEY") or config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(master, f"linkage-day:{day.isoformat()}".encode(), hashlib.sha256).digest()


def _hash(config, day: date, kind: str, value: str) -> str:
    return hmac.new(_day_key(config, day), f"{kind}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()


def device_hash(config, device_id: str | None, day: date) -> str | None:
    if not device_id or len(device_id) > 64:
        return None
    return _hash(config, day, "device", device_id)


def network_of(address: str | None) -> str | None:
    """The network a request came from: the IPv4 address, or the /64 prefix of an IPv6 one
    (phones change the rest of an IPv6 address often)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def network_hash(config, address: str | None, day: date) -> str | None:
    network = network_of(address)
    return _hash(config, day, "network", network) if network else None
