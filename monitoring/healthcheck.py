"""The container health check: `python -m monitoring.healthcheck` exits 0 when GET /health/ is 200
(the process serves and its database answers; see monitoring.health).

Plain Python (no Django): it runs every 30 seconds. The request carries a Host the site accepts
(the first of ALLOWED_HOSTS) and says it came through the TLS proxy, so neither host checking nor
the HTTPS redirect turns a healthy site into a failed check.
"""

import os
import sys
import urllib.error
import urllib.request


def health_url() -> str:
    port = os.environ.get("PORT", "8000")
    path = os.environ.get("HEALTHCHECK_PATH", "/health/")
    return f"http://127.0.0.1:{port}{path}"


def host_header() -> str:
    for entry in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = entry.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main() -> int:
    request = urllib.request.Request(
        health_url(), headers={"Host": host_header(), "X-Forwarded-Proto": "https", "User-Agent": "healthcheck"}
    )
    try:
        with urllib.request.urlopen(request, timeout=float(os.environ.get("HEALTHCHECK_TIMEOUT", "4"))) as response:
            healthy = response.status == 200
    except (urllib.error.URLError, OSError) as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"unhealthy: HTTP {response.status}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
