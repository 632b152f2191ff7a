"""The API's rate limits are DRF throttles (core.api.RateLimit) whose rates come from the
API_RATE_* settings: the rate syntax, the start-up check of those settings, per-user counting and
the Retry-After of a refusal."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from core.api import parse_rate
from tests.api.conftest import assert_error_format
from tests.images import image_bytes, upload


@pytest.mark.parametrize("rate, parsed", [("10/m", (10, 60)), ("5/h", (5, 3600)), ("1/s", (1, 1)), ("3/d", (3, 86400)),
                                          ("30/5m", (30, 300)), ("100/hour", (100, 3600)), ("7/sec", (7, 1)),
                                          (" 20/min ", (20, 60))])
def test_rates_are_read_like_drf_and_django_ratelimit_wrote_them(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["", "10", "ten/m", "10/fortnight", "10/m/h", "-1/m", "10/ m", "10/0.5h"])
def test_a_rate_that_is_no_rate_is_refused(rate):
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate(rate)


def test_a_bad_rate_setting_stops_the_site_at_its_checks(settings):
    settings.API_RATE_UPLOAD = "30/fortnight"
    with pytest.raises(SystemCheckError, match="API_RATE_UPLOAD"):
        call_command("check")
    settings.API_RATE_UPLOAD = "30/m"
    call_command("check")


@pytest.mark.django_db
def test_each_user_has_their_own_count_and_a_refusal_says_when_to_retry(api, settings, django_user_model):
    from rest_framework.test import APIClient

    settings.API_RATE_UPLOAD = "2/h"
    for n in range(2):
        assert api.post("/api/v1/images/", {"files": [upload(f"a{n}.png", image_bytes("PNG"))]},
                        format="multipart").status_code == 202
    refused = api.post("/api/v1/images/", {"files": [upload("a.png", image_bytes("PNG"))]}, format="multipart")
    assert_error_format(refused, 429)
    assert 3500 <= int(refused["Retry-After"]) <= 3600  # the first of the two frees its slot in an hour
    other = APIClient()
    other.force_authenticate(django_user_model.objects.create_user(email="bo@example.com", password="x" * 20))
    assert other.post("/api/v1/images/", {"files": [upload("b.png", image_bytes("PNG"))]},
                      format="multipart").status_code == 202
    assert api.get("/api/v1/images/").status_code == 200  # reading is not limited


@pytest.mark.django_db
def test_with_the_limits_turned_off_nothing_is_refused(api, settings):
    settings.API_RATE_UPLOAD = "1/h"
    settings.RATELIMIT_ENABLE = False
    for n in range(3):
        assert api.post("/api/v1/images/", {"files": [upload(f"a{n}.png", image_bytes("PNG"))]},
                        format="multipart").status_code == 202
