"""Helpers for tests that start real processes (workers, servers) on the test database."""

from django.db import connection


def database_url_of_this_test() -> str:
    """The test database, as a URL a subprocess can open (it sees committed rows only)."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    user = params.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{params['NAME']}"
