"""Upload validators (settings.UPLOAD_IMAGE_VALIDATORS) that tests plug in by dotted path."""

import time

from captions.imaging import ImageRejected


def explode_on_boom(loaded, name: str) -> None:
    """A bug: any file whose name contains 'boom' raises an unexpected exception."""
    if "boom" in name:
        raise ZeroDivisionError("division by zero in a validator")


def refuse_on_nsfw(loaded, name: str) -> None:
    if "nsfw" in name:
        raise ImageRejected("Refused by the content policy.")


def slow_on_slow(loaded, name: str) -> None:
    """Long enough for a test to kill the web worker while the request is being processed."""
    if "slow" in name:
        time.sleep(60)


# Called by stop_storage_on_stop (set by a test): takes the media storage down mid-request.
storage_stopper = None


def stop_storage_on_stop(loaded, name: str) -> None:
    """The media storage goes down while this file is processed (the earlier ones are written)."""
    if "stop" in name and storage_stopper is not None:
        storage_stopper()


def terminate_backend_on_kill(loaded, name: str) -> None:
    """A database blip mid-request: PostgreSQL terminates this request's connection (from another
    connection, as a restart or a failover does) while the file named "kill" is processed."""
    if "kill" not in name:
        return
    import psycopg
    from django.db import connection

    params = connection.settings_dict
    pid = connection.connection.info.backend_pid
    with psycopg.connect(host=params.get("HOST") or "127.0.0.1", port=params.get("PORT") or 5432,
                         user=params.get("USER") or "postgres", password=params.get("PASSWORD") or None,
                         dbname=params["NAME"], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
