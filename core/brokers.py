"""django-q2 brokers that stop taking tasks while this process's database is unreachable.

A worker whose database is down would take tasks off a shared broker (Redis) and fail every one
(it can neither read the images nor save the result), while workers with a healthy database
could have done them. Before each pull from the broker, `dequeue` checks the database
(`SELECT 1` on a fresh connection when the last one failed); while it does not answer, the pusher
takes nothing, logs a warning (once a minute), and checks again after DB_RETRY_SECONDS. The
tasks stay on the broker for other workers, or for this one once its database is back.

Selected by Q_CLUSTER["broker_class"] in settings: GuardedRedis with REDIS_URL, else GuardedORM
(the ORM broker lives in the database, so there the guard only turns a crash loop of the pusher
into a quiet wait).
"""

import logging
import time

from django.db import connections
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis

from core.exceptions import INFRASTRUCTURE_ERRORS

logger = logging.getLogger(__name__)

DB_RETRY_SECONDS = 5.0
_WARN_EVERY_SECONDS = 60.0


def database_answers(alias: str = "default") -> bool:
    """True when the database answers `SELECT 1`; a broken connection is closed so the next
    check opens a fresh one."""
    connection = connections[alias]
    try:
        if connection.connection is not None and not connection.is_usable():
            connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except INFRASTRUCTURE_ERRORS:
        try:
            connection.close()
        except Exception:  # closing a dead connection may fail too; the next check reopens
            logger.debug("Closing the broken database connection failed", exc_info=True)
        return False


class _DatabaseGuard:
    _down_since: float | None = None
    _warned_at: float = 0.0

    def _database_ready(self) -> bool:
        if database_answers():
            if self._down_since is not None:
                logger.warning("The database answers again after %.0fs: taking tasks again.",
                               time.monotonic() - self._down_since)
                self._down_since = None
            return True
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning("The database is unreachable: this worker takes no tasks from the broker until it "
                           "answers (checking every %.0fs).", DB_RETRY_SECONDS)
        time.sleep(DB_RETRY_SECONDS)
        return False

    def dequeue(self):
        if not self._database_ready():
            return None
        return super().dequeue()


class GuardedRedis(_DatabaseGuard, Redis):
    """The Redis broker, pulling only while the database answers."""


class GuardedORM(_DatabaseGuard, ORM):
    """The ORM broker, pulling only while the database answers (no crash loop while it is down)."""
