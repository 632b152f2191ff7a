"""Who may read the metrics: a bearer METRICS_TOKEN, or an address in METRICS_ALLOWED_IPS."""

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings

REFUSAL = "Forbidden: send 'Authorization: Bearer <METRICS_TOKEN>' or scrape from an address in METRICS_ALLOWED_IPS.\n"


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def metrics_access_allowed(*, authorization: str, remote_addr: str) -> bool:
    """`remote_addr` is the peer address (REMOTE_ADDR), never X-Forwarded-For: a client can write
    that header itself."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, sent = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_IPS)))
