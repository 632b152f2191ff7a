"""The upload form and the gallery in a browser (new-user trial): Style, Language and Model sit
in one row aligned with the form; after an upload with refusals the new cards appear below while
the refusals stay listed (a .zip among the files, unpacked like the API's batches); a failed card
has a Retry button."""

import io
import zipfile

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import check_page, in_own_thread, make_user, sign_in
from tests.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def boxes(page, selector):
    return page.evaluate("s => Array.from(document.querySelectorAll(s)).map(e => { const r = e.getBoundingClientRect();"
                         " return {left: r.left, top: r.top, right: r.right}; })", selector)


def test_style_language_and_model_are_one_row_aligned_with_the_form(page, live_server):
    sign_in(page, live_server.url, make_user("newcomer@example.com"))
    page.goto("/")
    form = boxes(page, "#dropzone")[0]
    # Style, language and model lead the caption request's fields (purpose and context follow).
    fields = boxes(page, "#upload-form .caption-request .settings-field")[:3]
    assert len(fields) == 3
    assert max(f["top"] for f in fields) - min(f["top"] for f in fields) < 2, fields  # one row
    assert abs(fields[0]["left"] - form["left"]) < 2 and fields[0]["left"] < fields[1]["left"] < fields[2]["left"]
    language_link = boxes(page, "#upload-form .caption-request > .help")[0]
    assert abs(language_link["left"] - form["left"]) < 2  # left-aligned under the row, not centred
    page.set_viewport_size({"width": 390, "height": 900})
    fields = boxes(page, "#upload-form .caption-request .settings-field")[:3]
    assert fields[0]["top"] < fields[1]["top"] < fields[2]["top"]  # wrapped, one under the other
    check_page(page, "upload-form-row")


def test_after_an_upload_with_refusals_the_new_cards_appear_and_the_refusals_stay(page, live_server, tmp_path):
    sign_in(page, live_server.url, make_user("newcomer@example.com"))
    page.goto("/")
    page.wait_for_load_state("load")
    expect(page.get_by_text("No images yet.")).to_be_visible()
    paths = []
    for index in range(2):
        path = tmp_path / f"good-{index}.jpg"
        path.write_bytes(image_bytes("JPEG", color=(90 * index, 30, 60)))
        paths.append(path)
    (tmp_path / "notes.jpg").write_bytes(b"this is not an image")
    paths.append(tmp_path / "notes.jpg")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("zipped/inside.png", image_bytes("PNG"))
        archive.writestr("zipped/readme.txt", b"text")
    (tmp_path / "photos.zip").write_bytes(buffer.getvalue())
    paths.append(tmp_path / "photos.zip")
    page.set_input_files("#upload-form input[type=file]", [str(p) for p in paths])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-status")).to_contain_text("3 images queued for captioning; 2 refused")
    expect(page.locator("#upload-status")).to_contain_text("The new images are shown below.")
    expect(page.locator("#upload-refusals li")).to_have_count(2)  # still listed
    expect(page.locator("#upload-refusals")).to_contain_text("notes.jpg")
    expect(page.locator("#upload-refusals")).to_contain_text("readme.txt")
    expect(page.locator(".image-card")).to_have_count(3)
    expect(page.locator("#images-heading")).to_contain_text("(3)")
    expect(page.get_by_text("No images yet.")).to_have_count(0)
    expect(page.locator("#gallery-poller")).to_have_attribute("hx-trigger", "every 3s")  # the cards will update
    page.locator(".image-card .select-box").first.check()
    expect(page.locator("#bulk-count")).to_have_text("1 selected.")  # the new bulk bar works
    check_page(page, "gallery-upload-partly-refused")


def test_a_failed_card_has_a_retry_button(page, live_server):
    owner = make_user("newcomer@example.com")

    def failed_image():
        from captions.models import Image
        from captions.services.submission import image_submit
        from tests.images import upload

        image = image_submit(owner=owner, files=[upload("broken.jpg", image_bytes("JPEG"))]).accepted[0]
        Image.objects.filter(pk=image.pk).update(status=Image.Status.FAILED, attempts=1,
                                                    error_kind=Image.FailureKind.MODEL_UNAVAILABLE,
                                                    error="model folder '/models/x' does not exist: check CAPTION_MODEL")
        return image.pk

    pk = in_own_thread(failed_image)
    sign_in(page, live_server.url, owner)
    page.goto("/")
    card = page.locator(".image-card.status-failed")
    expect(card).to_contain_text("retry this image after that")
    expect(card).not_to_contain_text("/models/x")  # the operator's reason is for staff
    card.get_by_role("button", name="Retry broken.jpg").click()
    expect(page.get_by_text("broken.jpg was queued again.")).to_be_visible()
    assert page.url.rstrip("/") == live_server.url
    expect(page.locator(".image-card").first).to_have_attribute("data-status", "queued")
    from captions.models import Image

    assert in_own_thread(lambda: Image.objects.get(pk=pk).status) == "queued"
