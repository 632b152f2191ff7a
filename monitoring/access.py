"""Who may read the metrics and the readiness details.

By default only a request carrying "Authorization: Bearer <METRICS_TOKEN>" (or a signed-in staff
member): with no token configured, anonymous scrapes are refused. METRICS_ALLOWED_IPS (empty by
default) opens /metrics to peer addresses without a token; never list the address of a reverse
proxy on the same host (127.0.0.1 behind nginx or Render's router is every visitor).
"""

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings

REFUSAL = (
    "Forbidden: send 'Authorization: Bearer <METRICS_TOKEN>' (set METRICS_TOKEN on the server), "
    "or scrape from an address in METRICS_ALLOWED_IPS.\n"
)


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def token_matches(authorization: str) -> bool:
    """True when METRICS_TOKEN is set and `authorization` is "Bearer <that token>"."""
    token = settings.METRICS_TOKEN
    if not token:
        return False
    scheme, _, sent = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode())


def metrics_access_allowed(*, authorization: str, remote_addr: str, user=None) -> bool:
    """The metrics token, a staff `user`, or a peer address (REMOTE_ADDR, never X-Forwarded-For:
    a client can write that header itself) in METRICS_ALLOWED_IPS."""
    if token_matches(authorization):
        return True
    if operator(user):
        return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


def details_allowed(*, authorization: str, user=None) -> bool:
    """Health details (engines, versions, paths, hosts) go to the metrics token or staff only."""
    return token_matches(authorization) or operator(user)


def operator(user) -> bool:
    """A signed-in user given the view_operations permission (directly, by a group, or as a
    superuser): is_staff alone only opens the admin's door."""
    return bool(user is not None and user.is_authenticated and user.has_perm("monitoring.view_operations"))
