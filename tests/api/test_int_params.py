"""Integer parameters out of a database integer's range answer 400 (API) or 404 (pages), never 500
(SQLite raises OverflowError past 2**63 - 1)."""

import pytest
from django.contrib.auth.models import Group

from core.params import MAX_DB_INT, ParamError, int_param

HUGE = "9223372036854775808"  # 2**63
HUGER = "1" + "0" * 40
BAD_VALUES = [HUGE, HUGER, "-1", "0", "abc", "1.5", "1e3", "١٢"]  # the last: Arabic-Indic digits


def test_int_param_accepts_the_range_and_refuses_the_rest():
    assert int_param("42", name="batch") == 42
    assert int_param(" 7 ", name="batch") == 7
    assert int_param(str(MAX_DB_INT), name="batch") == MAX_DB_INT
    assert int_param("", name="batch", default=3) == 3
    assert int_param(None, name="batch") is None
    assert int_param("0", name="position", minimum=0) == 0
    for raw in BAD_VALUES:
        with pytest.raises(ParamError) as caught:
            int_param(raw, name="batch")
        assert "batch" in caught.value.message


@pytest.mark.django_db
@pytest.mark.parametrize("raw", BAD_VALUES[:-1])  # DRF reads non-ASCII digits as the number they are
def test_images_api_batch_filter_out_of_range_is_400(api, raw):
    response = api.get("/api/v1/images/", {"batch": raw})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"] and "batch" in body["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [HUGE, HUGER, "-1", "abc"])
def test_images_api_page_out_of_range_is_not_500(api, raw):
    response = api.get("/api/v1/images/", {"page": raw})
    assert response.status_code in (400, 404), response.content
    assert response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/batches/{HUGE}/",
        f"/api/v1/batches/{HUGER}/",
        f"/api/v1/batches/{HUGE}/export",
        f"/api/v1/batches/{HUGER}/export/",
        "/api/v1/batches/-1/",
        "/api/v1/batches/0/",
    ],
)
def test_api_path_ids_out_of_range_are_404(api, path):
    response = api.get(path)
    assert response.status_code == 404, (path, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("caption_id", [HUGE, HUGER, "0"])
def test_feedback_api_caption_id_out_of_range_is_404(api, caption_id):
    response = api.post(f"/api/v1/captions/{caption_id}/feedback/", {"rating": 5}, format="json")
    assert response.status_code == 404


@pytest.fixture
def reviewer_client(client, make_user):
    reviewer = make_user("reviewer@example.com")
    reviewer.groups.add(Group.objects.get_or_create(name="reviewers")[0])
    client.force_login(reviewer)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("raw", BAD_VALUES)
def test_review_queue_batch_out_of_range_is_404(reviewer_client, raw):
    assert reviewer_client.get("/review/", {"batch": raw}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [HUGE, HUGER, "-5", "x"])
def test_review_queue_bad_position_starts_at_the_top(reviewer_client, raw):
    assert reviewer_client.get("/review/", {"position": raw}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", [f"/review/captions/{HUGE}/approve/", f"/review/captions/{HUGER}/feedback/"])
def test_review_caption_paths_out_of_range_are_404(reviewer_client, path):
    assert reviewer_client.post(path).status_code == 404


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("boss@example.com", is_staff=True, perms=["monitoring.view_operations", "feedback.add_modelactivation", "feedback.review_all_images"]))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("raw", BAD_VALUES)
def test_dashboard_run_out_of_range_is_404(staff_client, raw):
    assert staff_client.get("/dashboard/", {"run": raw}).status_code == 404


@pytest.mark.django_db
def test_dashboard_in_range_run_is_fine(staff_client):
    assert staff_client.get("/dashboard/", {"run": str(MAX_DB_INT)}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [HUGE, HUGER, "-1", "abc"])
def test_model_activation_with_a_bad_run_is_404(staff_client, raw):
    assert staff_client.post("/review/models/activate/", {"run": raw}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [HUGE, HUGER, "-1", "abc"])
@pytest.mark.parametrize("query", ["page", "page_size"])
def test_paginated_api_lists_answer_without_500(api, raw, query):
    response = api.get("/api/v1/feedback/", {query: raw})
    assert response.status_code in (200, 400, 404), response.content
    assert response.status_code == 200 or response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [HUGE, HUGER, "-1", "abc"])
def test_the_gallery_page_parameter_never_500s(logged_in_client, raw):
    assert logged_in_client.get("/", {"page": raw}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [HUGE, HUGER, "-3", "abc"])
def test_review_queue_bad_caption_jump_is_ignored(reviewer_client, raw):
    assert reviewer_client.get("/review/", {"caption": raw}).status_code == 200


# str.isdigit() is True for digits int() refuses (superscripts such as "²"): each parser that
# checked isdigit() before int() answered 500 for them.
UNICODE_DIGITS = ["²", "1²", "①"]


@pytest.mark.django_db
@pytest.mark.parametrize("raw", UNICODE_DIGITS)
@pytest.mark.parametrize("query", ["page", "page_size"])
def test_paginated_api_lists_refuse_unicode_digits(api, raw, query):
    response = api.get("/api/v1/feedback/", {query: raw})
    assert response.status_code == 400, response.content
    assert query in response.json()["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize("raw", UNICODE_DIGITS)
def test_the_gallery_batch_filter_never_500s_on_unicode_digits(logged_in_client, raw):
    assert logged_in_client.get("/", {"batch": raw}).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("raw", UNICODE_DIGITS)
def test_bulk_approve_refuses_unicode_digit_caption_ids(reviewer_client, raw):
    response = reviewer_client.post("/review/approve/", {"captions": [raw]})
    assert response.status_code == 302
