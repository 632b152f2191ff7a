"""Feedback's Prometheus collectors, recorded where ratings are given. Exposed at /metrics by
monitoring; recording never raises (core.metrics)."""

import logging

from prometheus_client import Counter

from core.metrics import recording

logger = logging.getLogger(__name__)

FEEDBACK_RATINGS = Counter("captionsite_feedback_ratings", "Feedback ratings given, by stars.", ["rating"])


def observe_rating(rating: int) -> None:
    """One feedback rating (1-5 stars) given."""
    with recording("rating metric", logger):
        FEEDBACK_RATINGS.labels(rating=str(int(rating))).inc()
