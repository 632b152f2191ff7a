"""Alt text fit for its purpose, the site's side: purpose and context on every way in (upload form,
API, zip batch, CLI, re-caption), stored, part of the cache key, shown and exported; decorative
and complex images end to end; human text protected from re-captions (single, bulk, review, API);
the checker's findings on model and human captions. Real worker task, real tiny models."""

import csv
import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from captions.caption_request import caption_request_check
from captions.models import Caption, Image
from captions.services.submission import image_submit
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)

CONTEXT = "Product page of the Alpine 40 L hiking backpack"


def run_worker():
    return async_task("captions.tasks.caption_pending", sync=True)


def post_image(api, color=(200, 30, 30), name="a.png", url="/api/v1/images/", **fields):
    data = {"files": [upload(name, image_bytes("PNG", color=color), "image/png")], **fields}
    return api.post(url, data, format="multipart")


def image_of(response) -> Image:
    return Image.objects.get(public_id=response.json()["images"][0]["id"])


def human_caption(image, text, user, *, approved=False) -> Caption:
    caption = Caption.objects.create(image=image, text=text, raw_text=text, source=Caption.Source.HUMAN,
                                     created_by=user, approved_at=timezone.now() if approved else None)
    Image.objects.filter(pk=image.pk).update(current_caption=caption, status=Image.Status.DONE)
    return caption


# --- purpose and context on every way in ----------------------------------------------------------


def test_api_upload_stores_purpose_and_context_and_refuses_bad_ones_by_name(api, tiny_model):
    response = post_image(api, purpose="functional", context=CONTEXT, action="Open the backpack's page")
    assert response.status_code == 202, response.json()
    image = image_of(response)
    assert (image.params["purpose"], image.params["context"], image.params["action"]) == (
        "functional", CONTEXT, "Open the backpack's page")

    for fields, field in (
        ({"purpose": "ornamental"}, "purpose"),
        ({"context": "Shop\x07page"}, "context"),
        ({"context": "x" * 5000}, "context"),
        ({"purpose": "functional", "action": "a" * 301}, "action"),
    ):
        before = Image.objects.count()
        response = post_image(api, **fields)
        assert response.status_code == 400, (fields, response.content)
        assert field in json.dumps(response.json()), response.json()
        assert Image.objects.count() == before  # nothing stored


def test_a_megabyte_of_context_is_a_clear_refusal(api, tiny_model):
    response = post_image(api, context="x" * 1_000_000)
    assert response.status_code in (400, 413), response.status_code
    assert "context" in json.dumps(response.json()) or response.status_code == 413
    assert Image.objects.count() == 0


def test_upload_form_and_zip_batch_carry_purpose_and_context(logged_in_client, api, tiny_model):
    response = logged_in_client.post(reverse("captions:upload"), {
        "images": [upload("form.png", image_bytes("PNG", color=(1, 2, 3)), "image/png")],
        "purpose": "complex", "context": CONTEXT,
    })
    assert response.status_code in (200, 302), response.content[:500]
    image = Image.objects.get(original_filename="form.png")
    assert (image.params["purpose"], image.params["context"]) == ("complex", CONTEXT)

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("one.png", image_bytes("PNG", color=(9, 9, 9)))
        z.writestr("two.png", image_bytes("PNG", color=(19, 9, 9)))
    archive.seek(0)
    response = api.post("/api/v1/batches/", {"files": [upload("set.zip", archive.getvalue(), "application/zip")],
                                             "purpose": "text", "context": "Slides of a talk"}, format="multipart")
    assert response.status_code == 202, response.json()
    for name in ("one.png", "two.png"):
        image = Image.objects.get(original_filename=name)
        assert (image.params["purpose"], image.params["context"]) == ("text", "Slides of a talk")

    response = logged_in_client.post(reverse("captions:upload"), {
        "images": [upload("bad.png", image_bytes("PNG"), "image/png")], "purpose": "ornamental"})
    assert not Image.objects.filter(original_filename="bad.png").exists()


def test_context_is_part_of_the_cache_key(user, tiny_model):
    data = image_bytes("PNG", color=(40, 50, 60))
    first = image_submit(owner=user, files=[upload("a.png", data, "image/png")], request=caption_request_check({"context": CONTEXT}, offered_model=False)).accepted[0]
    run_worker()
    same = image_submit(owner=user, files=[upload("b.png", data, "image/png")], request=caption_request_check({"context": CONTEXT}, offered_model=False)).accepted[0]
    other = image_submit(owner=user, files=[upload("c.png", data, "image/png")], request=caption_request_check({"context": "A news story"}, offered_model=False)).accepted[0]
    run_worker()
    first, same, other = (Image.objects.get(pk=i.pk) for i in (first, same, other))
    assert same.current_caption.source == Caption.Source.CACHE and same.current_caption.reused_from_id == first.current_caption_id
    assert other.current_caption.source == Caption.Source.MODEL
    assert other.current_caption.cache_key != first.current_caption.cache_key


def test_prompt_less_model_captions_and_the_page_says_context_not_used(logged_in_client, user, tiny_model):
    image = image_submit(owner=user, files=[upload("a.png", image_bytes("PNG"), "image/png")],
                         request=caption_request_check({"context": CONTEXT}, offered_model=False)).accepted[0]
    run_worker()
    image.refresh_from_db()
    assert image.status == Image.Status.DONE and image.current_caption.text
    html = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert f"context not used by {image.current_caption.model_id}" in html
    assert CONTEXT in html


def test_a_prompt_capable_model_gets_the_context_through_the_worker(api, settings, tiny_vlm_dir):
    settings.CAPTION_MODEL = tiny_vlm_dir
    response = post_image(api, context=CONTEXT, purpose="functional", action="Open the product page", max_length=5)
    assert response.status_code == 202, response.json()
    run_worker()
    image = image_of(response)
    assert image.status == Image.Status.DONE, image.error
    assert CONTEXT in image.current_caption.prompt and "Open the product page" in image.current_caption.prompt
    body = api.get(f"/api/v1/images/{image.public_id}/").json()
    assert body["alt"]["context_unused_by"] == "" and body["alt"]["context"] == CONTEXT


def test_caption_folder_takes_purpose_and_context(tmp_path, tiny_model):
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "a.png").write_bytes(image_bytes("PNG"))
    out = tmp_path / "deco.csv"
    call_command("caption_folder", str(folder), "--out", str(out), "--purpose", "decorative",
                 "--model", "/no/such/model", verbosity=0)  # decorative: the model is never loaded
    rows = list(csv.DictReader(out.open()))
    assert [(r["file"], r["caption"], r["purpose"]) for r in rows] == [("a.png", "", "decorative")]

    out = tmp_path / "ctx.jsonl"
    call_command("caption_folder", str(folder), "--out", str(out), "--context", CONTEXT, verbosity=0)
    row = json.loads(out.read_text().splitlines()[0])
    assert row["status"] == "ok" and row["caption"] and row["purpose"] == "informative"
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--context"):
        call_command("caption_folder", str(folder), "--out", str(tmp_path / "x.csv"), "--context", "a\x00b", verbosity=0)


# --- decorative -------------------------------------------------------------------------------------


def test_decorative_is_done_without_a_model_exported_as_empty_alt_and_queued_when_changed_back(
    api, logged_in_client, tiny_model
):
    response = api.post("/api/v1/batches/", {"files": [upload("swirl.png", image_bytes("PNG"), "image/png")],
                                             "purpose": "decorative"}, format="multipart")
    assert response.status_code == 202, response.json()
    image = image_of(response)
    assert image.status == Image.Status.DONE and image.current_caption is None  # no worker, no model
    batch = response.json()["batch"]
    html = api.get(f"/api/v1/batches/{batch}/export/?format=html").content.decode()
    assert '<img src="swirl.png" alt=""> <!-- decorative -->' in html
    rows = api.get(f"/api/v1/batches/{batch}/export/?format=json").json()
    assert rows[0]["decorative"] is True and rows[0]["caption"] == ""
    body = api.get(f"/api/v1/images/{image.public_id}/").json()
    assert body["alt"]["decorative"] is True and body["alt"]["alt_text"] == ""
    page = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert 'id="decorative-state"' in page and 'alt=""' in page

    response = logged_in_client.post(reverse("captions:image_alt_settings", args=[image.public_id]),
                                     {"purpose": "informative"}, follow=True)
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED and image.params["purpose"] == "informative"
    run_worker()
    image.refresh_from_db()
    assert image.status == Image.Status.DONE and image.current_caption.text

    response = api.post(f"/api/v1/images/{image.public_id}/alt/", {"purpose": "decorative"}, format="json")
    assert response.status_code == 200 and response.json()["alt"]["alt_text"] == ""
    response = api.post(f"/api/v1/images/{image.public_id}/alt/", {"purpose": "shiny"}, format="json")
    assert response.status_code == 400 and "purpose" in response.json()["errors"]


# --- complex ------------------------------------------------------------------------------------------


@pytest.mark.slow  # the description style asks for at least 200 new tokens of the tiny VLM
def test_complex_gets_an_extended_description_reviewed_and_exported(api, logged_in_client, settings, tiny_vlm_dir):
    settings.CAPTION_MODEL = tiny_vlm_dir
    response = api.post("/api/v1/batches/", {"files": [upload("chart.png", image_bytes("PNG"), "image/png")],
                                             "purpose": "complex", "max_length": 5}, format="multipart")
    assert response.status_code == 202, response.json()
    run_worker()
    image = image_of(response)
    caption = image.current_caption
    assert caption.text and caption.extended_description and caption.extended_description != caption.text
    rows = api.get(f"/api/v1/batches/{response.json()['batch']}/export/?format=json").json()
    assert rows[0]["extended_description"] == caption.extended_description
    # a person edits the description: a human caption with both texts
    logged_in_client.post(reverse("feedback:edit", args=[caption.pk]), {
        "text": caption.text, "extended_description": "Bars rise from 2019 to 2024.",
        "next": reverse("captions:image_detail", args=[image.public_id])})
    image.refresh_from_db()
    assert image.current_caption.extended_description == "Bars rise from 2019 to 2024."
    assert image.current_caption.source == Caption.Source.HUMAN


def test_complex_with_a_prompt_less_model_says_the_description_is_missing(logged_in_client, user, tiny_model):
    image = image_submit(owner=user, files=[upload("map.png", image_bytes("PNG"), "image/png")],
                         request=caption_request_check({"purpose": "complex"}, offered_model=False)).accepted[0]
    run_worker()
    image.refresh_from_db()
    assert image.status == Image.Status.DONE and image.current_caption.extended_description == ""
    html = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert 'id="extended-description-missing"' in html


# --- human text protected -------------------------------------------------------------------------


@pytest.fixture
def edited(user, tiny_model):
    """A captioned image whose alt text a person then wrote."""
    image = image_submit(owner=user, files=[upload("dog.png", image_bytes("PNG", color=(5, 90, 5)), "image/png")]).accepted[0]
    run_worker()
    image.refresh_from_db()
    human = human_caption(image, "Our dog Rex asleep on the porch.", user)
    image.refresh_from_db()
    return image, human


def test_api_recaption_keeps_human_text_and_offers_a_suggestion(api, edited):
    image, human = edited
    response = api.post(f"/api/v1/images/{image.public_id}/recaption/", {"num_beams": 2}, format="json")
    assert response.status_code == 202, response.json()
    run_worker()
    image.refresh_from_db()
    assert image.current_caption_id == human.pk  # not replaced
    body = api.get(f"/api/v1/images/{image.public_id}/").json()
    assert body["alt"]["source"] == "human-edited" and len(body["alt"]["suggestions"]) == 1
    suggestion = Caption.objects.get(pk=body["alt"]["suggestions"][0]["id"])
    assert suggestion.source == Caption.Source.MODEL and suggestion.params["num_beams"] == 2

    # asked without confirming: refused, nothing queued
    response = api.post(f"/api/v1/images/{image.public_id}/recaption/", {"num_beams": 1, "replace_human": True}, format="json")
    assert response.status_code == 400 and "replace_human_confirm" in response.json()["errors"]
    assert Image.objects.get(pk=image.pk).status == Image.Status.DONE
    # asked and confirmed: replaced
    response = api.post(f"/api/v1/images/{image.public_id}/recaption/",
                        {"num_beams": 1, "replace_human": True, "replace_human_confirm": True}, format="json")
    assert response.status_code == 202
    run_worker()
    image.refresh_from_db()
    assert image.current_caption.source == Caption.Source.MODEL and image.current_caption.params["num_beams"] == 1
    assert not image.replace_human


def test_bulk_recaption_keeps_human_and_approved_text(logged_in_client, user, edited, tiny_model):
    image, human = edited
    other = image_submit(owner=user, files=[upload("cat.png", image_bytes("PNG", color=(90, 5, 5)), "image/png")]).accepted[0]
    run_worker()
    other.refresh_from_db()
    Caption.objects.filter(pk=other.current_caption_id).update(approved_at=timezone.now())  # approved model text
    plain = image_submit(owner=user, files=[upload("owl.png", image_bytes("PNG", color=(5, 5, 90)), "image/png")]).accepted[0]
    run_worker()
    plain.refresh_from_db()
    before = {i.pk: i.current_caption_id for i in (image, other, plain)}

    ids = [str(i.public_id) for i in (image, other, plain)]
    response = logged_in_client.post(reverse("captions:images_bulk"), {
        "action": "recaption", "ids": ids, "bulk-model_spec": tiny_model, "model_spec": tiny_model, "num_beams": 2,
    }, follow=True)
    assert response.status_code == 200
    run_worker()
    for item in (image, other):
        item.refresh_from_db()
        assert item.current_caption_id == before[item.pk]  # a person's text stays
        assert item.captions.filter(params__num_beams=2).exists()  # the suggestion
    plain.refresh_from_db()
    assert plain.current_caption_id != before[plain.pk]  # a model caption is replaced as before

    # "replace human text too" without the confirmation: refused with the reason, nothing queued
    response = logged_in_client.post(reverse("captions:images_bulk"), {
        "action": "recaption", "ids": ids, "model_spec": tiny_model, "num_beams": 1, "replace_human": "on",
    }, follow=True)
    assert "confirm" in response.content.decode().lower()
    assert not Image.objects.filter(status=Image.Status.QUEUED).exists()
    logged_in_client.post(reverse("captions:images_bulk"), {
        "action": "recaption", "ids": ids, "model_spec": tiny_model, "num_beams": 1,
        "replace_human": "on", "replace_human_confirm": "on",
    })
    run_worker()
    for item in (image, other):
        item.refresh_from_db()
        assert item.current_caption.params["num_beams"] == 1 and item.current_caption.source == Caption.Source.MODEL


def test_review_recaption_then_a_person_edits_keeps_the_person_s_text(logged_in_client, user, tiny_model):
    image = image_submit(owner=user, files=[upload("fox.png", image_bytes("PNG", color=(3, 60, 3)), "image/png")]).accepted[0]
    run_worker()
    image.refresh_from_db()
    caption = image.current_caption
    Caption.objects.filter(pk=caption.pk).update(needs_review=True)
    response = logged_in_client.post(reverse("feedback:recaption", args=[caption.pk]), {
        "model_spec": tiny_model, "num_beams": 2, "max_length": 20, "num_alternatives": 1, "style": "alt",
        "decision": "recaption"})
    assert response.status_code in (200, 302)
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED
    # while it waits, the owner writes the alt text
    human = human_caption(image, "A red fox by the fence.", user)
    Image.objects.filter(pk=image.pk).update(status=Image.Status.QUEUED)
    run_worker()
    image.refresh_from_db()
    assert image.current_caption_id == human.pk
    assert image.captions.filter(source=Caption.Source.MODEL, params__num_beams=2).exists()


def test_approval_makes_text_human_approved_and_a_suggestion_can_be_used(logged_in_client, api, user, tiny_model):
    image = image_submit(owner=user, files=[upload("elk.png", image_bytes("PNG", color=(9, 60, 3)), "image/png")]).accepted[0]
    run_worker()
    image.refresh_from_db()
    caption = image.current_caption
    Caption.objects.filter(pk=caption.pk).update(needs_review=True)
    logged_in_client.post(reverse("feedback:approve", args=[caption.pk]))
    caption.refresh_from_db()
    assert caption.approved_at is not None
    assert api.get(f"/api/v1/images/{image.public_id}/").json()["alt"]["source"] == "human-approved"
    api.post(f"/api/v1/images/{image.public_id}/recaption/", {"num_beams": 2}, format="json")
    run_worker()
    image.refresh_from_db()
    assert image.current_caption_id == caption.pk
    suggestion = image.captions.exclude(pk=caption.pk).get()
    page = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert 'id="suggestions"' in page and suggestion.text in page
    logged_in_client.post(reverse("captions:image_suggestion_use", args=[image.public_id, suggestion.pk]))
    image.refresh_from_db()
    assert image.current_caption_id == suggestion.pk


# --- the checker on every caption -------------------------------------------------------------------


def test_checks_on_model_and_human_captions_shown_and_sending_to_review(logged_in_client, api, user, settings, tiny_model):
    settings.ALT_CHECK_REVIEW_RULES = ["file_name"]
    image = image_submit(owner=user, files=[upload("IMG_2041.png", image_bytes("PNG"), "image/png")]).accepted[0]
    run_worker()
    image.refresh_from_db()
    assert isinstance(image.current_caption.checks, list)
    logged_in_client.post(reverse("feedback:edit", args=[image.current_caption_id]), {
        "text": "IMG_2041", "next": reverse("captions:image_detail", args=[image.public_id])})
    image.refresh_from_db()
    assert [c["rule"] for c in image.current_caption.checks] == ["file_name"]
    page = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert 'id="alt-checks"' in page and "file_name" in page
    assert api.get(f"/api/v1/images/{image.public_id}/").json()["alt"]["checks"][0]["rule"] == "file_name"

    # a model caption breaking a review rule goes to review whatever its confidence
    settings.ALT_CHECK_REVIEW_RULES = ["all_caps"]
    from captions.services import worker

    other = image_submit(owner=user, files=[upload("b.png", image_bytes("PNG", color=(1, 1, 1)), "image/png")]).accepted[0]
    Image.objects.filter(pk=other.pk).update(status=Image.Status.PROCESSING, claim_token="t",
                                             claim_expires_at=timezone.now())
    stored = worker._caption_store(image=other, claim_token="t", text="A DOG RUNS ON THE BEACH.", raw_text="",
                                   confidence=0.99, needs_review=False, model_id="m")
    assert stored.needs_review and stored.checks[0]["rule"] == "all_caps"


# --- coverage per batch and overall, filters, report ------------------------------------------------


def test_coverage_per_batch_and_overall_filters_and_report(api, logged_in_client, user, settings, tiny_model):
    settings.ALT_CHECK_REVIEW_RULES = []
    response = api.post("/api/v1/batches/", {"files": [
        upload(f"p{i}.png", image_bytes("PNG", color=(10 * i, 3, 3)), "image/png") for i in range(3)]},
        format="multipart")
    batch = response.json()["batch"]
    run_worker()
    a, b, c = Image.objects.filter(batch_id=batch).order_by("id")
    human_caption(a, "A PORCH WITH A SLEEPING DOG.", user)  # reviewed (a person wrote it), with a warning
    Caption.objects.filter(pk=a.captions.get(source=Caption.Source.HUMAN).pk).update(
        checks=[{"rule": "all_caps", "severity": "warning", "message": "", "link": ""}])
    api.post(f"/api/v1/images/{b.public_id}/alt/", {"purpose": "decorative"}, format="json")
    Caption.objects.filter(pk=Image.objects.get(pk=c.pk).current_caption_id).update(checks=[])
    loose = image_submit(owner=user, files=[upload("solo.png", image_bytes("PNG", color=(7, 7, 7)), "image/png")]).accepted[0]

    coverage = api.get(f"/api/v1/batches/{batch}/").json()["coverage"]
    assert {k: coverage[k] for k in ("total", "with_alt_text", "reviewed", "with_warnings", "decorative")} == {
        "total": 3, "with_alt_text": 3, "reviewed": 1, "with_warnings": 1, "decorative": 1}
    assert coverage["reviewed_share"] == round(1 / 3, 4) and coverage["warnings_by_rule"] == {"all_caps": 1}
    overall = api.get("/api/v1/coverage/").json()
    assert overall["total"] == 4 and overall["with_alt_text"] == 3  # the queued one has none yet

    def ids(query):
        return {row["id"] for row in api.get(f"/api/v1/images/?{query}").json()["results"]}

    assert ids("has_warnings=true") == {str(a.public_id)}
    assert ids("decorative=true") == {str(b.public_id)}
    assert ids("reviewed=false") == {str(b.public_id), str(c.public_id), str(loose.public_id)}
    html = logged_in_client.get(reverse("captions:gallery") + "?warnings=yes").content.decode()
    assert "p0.png" in html and "p2.png" not in html
    html = logged_in_client.get(reverse("captions:batch_detail", args=[batch])).content.decode()
    assert 'id="alt-coverage"' in html and "1 with warnings" in html and 'id="batch-report"' in html

    for report in (api.get(f"/api/v1/batches/{batch}/export/?format=report"),
                   logged_in_client.get(reverse("captions:batch_export", args=[batch]) + "?format=report")):
        assert report.status_code == 200
        rows = {r["figure"]: r for r in csv.DictReader(io.StringIO(report.content.decode()))}
        assert rows["images"]["count"] == "3" and rows["decorative"]["count"] == "1"
        assert rows["warning:all_caps"]["count"] == "1"


# --- text in images (OCR) ---------------------------------------------------------------------------


def _text_png(text: str, size=(900, 140)) -> bytes:
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    picture = PILImage.new("RGB", size, "white")
    ImageDraw.Draw(picture).text((20, 40), text, font=font, fill="black")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_purpose_text_puts_the_read_text_in_the_alt_text_shown_and_exported(api, logged_in_client, settings, tiny_model):
    settings.OCR_LANGUAGES = "eng+deu"
    response = api.post("/api/v1/batches/", {"files": [upload("sign.png", _text_png("Emergency exit only"), "image/png")],
                                             "purpose": "text"}, format="multipart")
    assert response.status_code == 202, response.json()
    run_worker()
    image = image_of(response)
    assert image.ocr_status == "done" and "Emergency exit" in image.ocr_text and image.ocr_confidence > 0.5
    assert image.current_caption.text.startswith("“Emergency exit")  # the alt text is the text, quoted
    assert "missing_ocr_text" not in [c["rule"] for c in image.current_caption.checks]
    page = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert 'id="ocr-text"' in page and "Emergency exit" in page
    rows = api.get(f"/api/v1/batches/{response.json()['batch']}/export/?format=json").json()
    assert "Emergency exit" in rows[0]["ocr_text"]


def test_missing_tesseract_captions_without_ocr_and_says_so(api, logged_in_client, settings, tiny_model):
    settings.OCR_TESSERACT_CMD = "/nonexistent/tesseract"
    response = post_image(api, name="sign.png", ocr="on")
    assert response.status_code == 202
    run_worker()
    image = image_of(response)
    assert image.status == Image.Status.DONE and image.current_caption.text  # captioned anyway
    assert image.ocr_status == "unavailable" and "not installed" in image.ocr_error
    page = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert 'id="ocr-unavailable"' in page
    assert post_image(api, ocr="maybe").status_code == 400


def test_predict_of_a_decorative_image_answers_at_once_with_an_empty_alt(api, tiny_model):
    response = api.post("/api/v1/predict/", {"file": upload("swirl.png", image_bytes("PNG"), "image/png"),
                                             "purpose": "decorative"}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "done" and body["caption"] is None
    assert body["alt"]["decorative"] is True and body["alt"]["alt_text"] == ""
