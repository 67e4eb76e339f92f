"""Where the server may listen: loopback always; any other address only with
authentication configured (mutual TLS or API keys), or when the operator says `--insecure`."""

from __future__ import annotations

import ipaddress


class BindRefused(ValueError):
    """Listening there without authentication was not asked for with --insecure."""


def is_loopback(host: str) -> bool:
    """Whether `host` reaches this machine only: `localhost`, 127.0.0.0/8, ::1. Other names
    are not resolved and count as reachable from elsewhere; "" and 0.0.0.0 are every address."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, authenticated: bool, insecure: bool) -> str | None:
    """None when listening on `host` is fine as configured; a warning to log when it is
    allowed only because of `insecure`. Raises BindRefused otherwise."""
    if is_loopback(host) or authenticated:
        return None
    if not insecure:
        raise BindRefused(
            f"refusing to listen on {host or 'every address'} without authentication: "
            "configure mutual TLS (--tls-client-ca) or API keys (--auth), listen on "
            "127.0.0.1, or pass --insecure to accept unauthenticated calls from the network"
        )
    return (
        f"listening on {host or 'every address'} without authentication (--insecure): "
        "anyone who can reach the port can read and change the routing state"
    )
