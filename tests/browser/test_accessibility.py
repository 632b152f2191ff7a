"""Every page in every state the issue names, at 390 and 1280 px: axe-core finds no violation of
the WCAG 2.0/2.1/2.2 A and AA rules, nothing scrolls sideways, and a screenshot of each is kept in
test-artifacts/screenshots/."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    assert_focus_visible,
    axe_violations,
    check_page,
    enforce_strict_csp,
    in_own_thread,
    make_user,
    sign_in,
)
from tests.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def fill_gallery(owner):
    """Five images in one upload: two captioned (one needs review, with alternatives and a
    history), one failed because the model was missing, one queued, one processing."""
    from datetime import timedelta

    from django.utils import timezone

    from captions.models import Caption, Image
    from captions.services.submission import image_submit
    from tests.images import upload

    def fill():
        files = [upload(f"photo-{i}.jpg", image_bytes("JPEG", size=(64, 48), color=(40 * i, 200 - 30 * i, 90)))
                 for i in range(5)]
        images = image_submit(owner=owner, files=files).accepted
        for image, text, confidence in ((images[0], "a red bus parked on a wide city street near tall buildings", 0.91),
                                        (images[1], "a dog", 0.12)):
            Caption.objects.create(image=image, text=text + " (first try)", raw_text=text, confidence=0.05,
                                   model_id="tiny/blip", params={"num_beams": 3})
            caption = Caption.objects.create(
                image=image, text=text, raw_text=text, confidence=confidence, model_id="tiny/blip", model_version="v1",
                params={"num_beams": 3, "max_length": 40}, needs_review=confidence < 0.5, inference_ms=120,
                candidates=[{"text": text, "score": confidence}, {"text": "a small brown dog on grass", "score": 0.1}],
            )
            Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption,
                                                     finished_at=timezone.now())
        Image.objects.filter(pk=images[2].pk).update(
            status=Image.Status.FAILED, attempts=1,
            error="model folder '/models/blip-finetuned' does not exist: check CAPTION_MODEL on the workers",
            error_kind=Image.FailureKind.MODEL_UNAVAILABLE,
        )
        Image.objects.filter(pk=images[4].pk).update(
            status=Image.Status.PROCESSING, claim_expires_at=timezone.now() + timedelta(minutes=5)
        )
        ids = [str(image.public_id) for image in images]
        return ids, caption.pk  # the caption that needs review

    return in_own_thread(fill)


def test_anonymous_pages_and_their_error_states(page):
    csp_violations = enforce_strict_csp(page)
    page.goto("/accounts/login/")
    check_page(page, "login")
    page.get_by_role("button", name="Log in").click()  # empty form: the error state
    expect(page.locator(".errorlist").first).to_be_visible()
    check_page(page, "login-errors")
    page.goto("/accounts/signup/")
    check_page(page, "signup")
    page.goto("/accounts/password/reset/")
    check_page(page, "password-reset")
    page.get_by_label("Email").fill("someone@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    check_page(page, "password-reset-sent")
    page.goto("/no/such/page/")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    check_page(page, "404-anonymous")
    assert csp_violations == [], "\n".join(sorted(set(csp_violations)))

    # The check can fail: an image without alt text and a too-wide element are both caught.
    page.evaluate("""() => {
        const main = document.querySelector('main');
        main.appendChild(Object.assign(document.createElement('img'), {src: '/favicon.ico'}));
        const wide = document.createElement('div');
        wide.textContent = 'wide';
        wide.style.width = '2000px';
        main.appendChild(wide);
    }""")
    assert "image-alt" in [v["id"] for v in axe_violations(page)]
    with pytest.raises(AssertionError, match="scrolls sideways"):
        check_page(page, "self-test")


def test_signed_in_pages_empty_and_full(page, live_server, tmp_path):
    owner = make_user("ada@example.com")
    sign_in(page, live_server.url, owner)
    csp_violations = enforce_strict_csp(page)

    page.goto("/")
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()
    check_page(page, "gallery-empty")
    page.goto("/review/")
    check_page(page, "review-empty")
    page.goto("/accounts/api-keys/")
    check_page(page, "api-keys-empty")
    page.goto("/accounts/password/")
    check_page(page, "password-change")

    # Upload refusal: the page's script lists it as it comes, and keeps the button usable.
    page.goto("/")
    page.wait_for_load_state("load")
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"this is not an image")
    page.set_input_files("#upload-form input[type=file]", [str(bad)])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-refusals li")).to_contain_text("notes.jpg")
    expect(page.get_by_role("button", name="Upload")).to_be_enabled()
    check_page(page, "gallery-upload-refused")

    page.goto("/images/00000000-0000-0000-0000-000000000000/")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    check_page(page, "404-signed-in")

    page.goto("/review/models/")  # staff only
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    check_page(page, "403")

    ids, caption_id = fill_gallery(owner)
    page.goto("/")
    expect(page.locator(".image-card")).to_have_count(5)
    expect(page.locator("#gallery-progress")).to_contain_text("of 5 finished")
    check_page(page, "gallery-full")
    assert assert_focus_visible(page) >= 20
    page.goto(f"/images/{ids[0]}/")
    check_page(page, "detail-done")
    # The caption history fits its column at 1280 px (it scrolls inside its own box if it must).
    assert page.evaluate("(() => { const b = document.querySelector('.table-scroll'); return b.scrollWidth <= b.clientWidth; })()")
    page.goto(f"/images/{ids[2]}/")
    expect(page.locator("#failure-reason")).to_contain_text("the captioning model could not be loaded")
    expect(page.get_by_text("/models/blip-finetuned")).to_have_count(0)  # operator words are for staff
    check_page(page, "detail-failed")
    page.goto(f"/images/{ids[4]}/")
    expect(page.locator("#image-status")).to_contain_text("Captioning…")
    check_page(page, "detail-processing")
    page.goto(f"/review/captions/{caption_id}/feedback/")
    expect(page.get_by_role("heading", name="Rate this caption")).to_be_visible()
    check_page(page, "rate-caption")
    page.get_by_label("Better caption (optional)").fill("a small dog")
    page.get_by_role("button", name="Save rating").click()  # no star chosen: refused, and said so
    expect(page.locator(".field-error")).to_contain_text("required")
    check_page(page, "rate-caption-error")
    page.get_by_role("radio", name="4 stars").press("ArrowRight")  # arrows move up the scale, nothing is saved
    expect(page.get_by_role("radio", name="5 stars")).to_be_checked()
    from feedback.models import Feedback

    assert in_own_thread(lambda: Feedback.objects.count()) == 0
    page.get_by_label("Better caption (optional)").fill("")
    page.get_by_role("radio", name="5 stars").focus()
    page.keyboard.press("Enter")  # Enter sends the form
    expect(page.locator(".rating-widget .saved")).to_be_visible()
    assert in_own_thread(lambda: list(Feedback.objects.values_list("rating", "corrected_caption"))) == [(5, "")]
    page.goto("/review/")
    expect(page.locator("#review-caption")).to_have_text("a dog")
    check_page(page, "review-item")
    assert assert_focus_visible(page) >= 10
    page.locator("#review-panel button.approve").focus()  # single keys act only in the review panel
    page.keyboard.press("e")
    expect(page.locator("#edit-text")).to_be_focused()
    check_page(page, "review-editing")

    # The owner's "better caption" on the detail page becomes the alt text at once.
    page.goto(f"/images/{ids[0]}/")
    page.get_by_role("radio", name="4 stars").check()
    page.get_by_label("Better caption (optional)").fill("a red double-decker bus in a city street")
    page.get_by_role("button", name="Save rating").click()
    expect(page.locator("#alt-text")).to_have_text("a red double-decker bus in a city street")
    expect(page.get_by_text("your caption is now the image's alt text")).to_be_visible()
    expect(page.locator(".detail-image img")).to_have_attribute("alt", "a red double-decker bus in a city street")

    page.goto("/accounts/api-keys/")
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key-value")).to_be_visible()
    check_page(page, "api-keys-new-key")
    page.reload()  # post/redirect/get: the reload neither repeats the post nor shows the key again
    expect(page.locator("#new-key-value")).to_have_count(0)
    expect(page.locator("#api-keys tbody tr")).to_have_count(1)
    assert csp_violations == [], "\n".join(sorted(set(csp_violations)))


def test_staff_pages(page, live_server):
    staff = make_user("grace@example.com", is_staff=True,
                      perms=["monitoring.view_operations", "feedback.add_modelactivation"])
    sign_in(page, live_server.url, staff)
    csp_violations = enforce_strict_csp(page)
    fill_gallery(staff)
    page.goto("/")
    # staff, not superuser: the admin link shows only for admin permissions (none of these is one)
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    expect(page.locator("#captioning-paused")).to_be_visible()  # no worker runs in this test
    check_page(page, "gallery-staff")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    check_page(page, "dashboard")
    assert assert_focus_visible(page) >= 10
    page.goto("/review/models/")
    check_page(page, "models")
    assert csp_violations == [], "\n".join(sorted(set(csp_violations)))
