"""Small facts about registry host names, shared by the auth flow and the registry store."""

from __future__ import annotations

import ipaddress

__all__ = ["hostname", "is_loopback"]


def hostname(registry: str) -> str:
    """Return the bare host of ``host[:port]`` or ``[v6]:port`` (``"[::1]:5000"`` → ``"::1"``)."""
    if registry.startswith("["):
        end = registry.find("]")
        return registry[1:end] if end > 0 else registry
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def is_loopback(host: str) -> bool:
    """Return whether ``host`` (a bare host name or IP literal) is on loopback."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
