"""Finding, selecting many and batches in a real browser: every new
page and state through check_page at 390 and 1280 px (axe-core, no sideways scroll, screenshots),
under the strict CSP; selection and a bulk approve with the keyboard alone."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import check_page, enforce_strict_csp, in_own_thread, sign_in, tab_to
from tests.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def make_owner(email="find@example.com"):
    from accounts.models import User

    def make():
        user = User(email=email)
        user.set_unusable_password()
        user.save()
        return user

    return in_own_thread(make)


def fill(owner, n=6):
    """n images in one named batch; the first four captioned (cats, needing review), one failed,
    the rest queued."""
    from django.utils import timezone

    from captions.models import Caption, Image
    from captions.services.submission import batch_submit
    from tests.images import upload

    def run():
        files = [upload(f"cat-{i}.jpg", image_bytes("JPEG", size=(48, 36), color=(30 * i, 120, 200 - 20 * i)))
                 for i in range(n)]
        result = batch_submit(owner=owner, files=files, name="Garden photos")
        for i, image in enumerate(result.accepted[:4]):
            caption = Caption.objects.create(image=image, text=f"a grey cat sitting in the garden number {i}",
                                             raw_text="x", confidence=0.2, model_id="tiny/blip", needs_review=True)
            Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption,
                                                     finished_at=timezone.now())
        Image.objects.filter(pk=result.accepted[4].pk).update(status=Image.Status.FAILED, error="boom")
        return result.batch.pk

    return in_own_thread(run)


def test_search_selection_batches_and_account_pages(page, live_server):
    owner = make_owner()
    sign_in(page, live_server.url, owner)
    csp_violations = enforce_strict_csp(page)
    page.goto("/batches/")
    check_page(page, "batches-empty")
    batch_id = fill(owner)

    page.goto("/")
    page.get_by_role("searchbox", name="Find").fill("garden cat")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(f"{live_server.url}/?q=garden+cat")  # only the fields that were filled in
    expect(page.locator(".image-card")).to_have_count(4)
    check_page(page, "search-results")

    page.get_by_role("searchbox", name="Find").fill("zebra")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#no-match")).to_be_visible()
    check_page(page, "search-empty")

    page.goto("/?q=cat")
    page.get_by_label("Select cat-0.jpg").check()
    page.get_by_label("Select cat-2.jpg").click(modifiers=["Shift"])  # a range: 0..2
    expect(page.get_by_label("Select cat-1.jpg")).to_be_checked()
    expect(page.locator("#bulk-count")).to_have_text("3 selected.")
    check_page(page, "gallery-selection")
    page.get_by_role("button", name="Delete…").click()
    expect(page.get_by_role("heading", name="Delete 3 images?")).to_be_visible()
    check_page(page, "bulk-delete-confirm")
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(f"{live_server.url}/?q=cat")

    page.goto("/batches/")
    expect(page.get_by_role("link", name="Garden photos")).to_be_visible()
    expect(page.get_by_role("progressbar", name="Progress of Garden photos")).to_be_visible()
    check_page(page, "batches")
    page.get_by_role("link", name="Garden photos").click()
    expect(page.get_by_role("heading", name="Garden photos")).to_be_visible()
    from captions.exports import EXPORT_FORMATS

    expect(page.locator("#batch-export a")).to_have_count(len(EXPORT_FORMATS) + 1)  # + "Find and select"
    check_page(page, "batch-detail")

    page.goto("/review/")
    expect(page.locator(".review-list li")).to_have_count(4)
    check_page(page, "review-select-many")

    page.goto("/accounts/delete/")
    check_page(page, "account-delete")
    page.get_by_label("Your password").fill("not it")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("That is not your password.")).to_be_visible()
    check_page(page, "account-delete-error")
    assert csp_violations == [], "\n".join(sorted(set(csp_violations)))
    assert batch_id


def test_select_and_approve_with_the_keyboard_alone(page, live_server):
    """Tab to a checkbox, Space ticks it, Shift+Space on a later one ticks the range, Tab reaches
    the bulk bar's Approve, Enter approves: the captions leave the review queue."""
    from captions.models import Caption

    owner = make_owner("keys@example.com")
    sign_in(page, live_server.url, owner)
    fill(owner)
    page.goto("/?q=cat")
    tab_to(page, 'input.select-box[aria-label="Select cat-3.jpg"]')
    page.keyboard.press("Space")
    tab_to(page, 'input.select-box[aria-label="Select cat-1.jpg"]')
    page.keyboard.down("Shift")
    page.keyboard.press("Space")
    page.keyboard.up("Shift")
    expect(page.locator("#bulk-count")).to_have_text("3 selected.")
    for name in ("cat-1.jpg", "cat-2.jpg", "cat-3.jpg"):
        expect(page.get_by_label(f"Select {name}")).to_be_checked()
    expect(page.get_by_label("Select cat-0.jpg")).not_to_be_checked()
    tab_to(page, "#bulk-approve", backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text("Approved 3 captions.")
    assert in_own_thread(lambda: Caption.objects.filter(needs_review=True).count()) == 1

    # The review queue: Space on a listed caption, then "Approve all shown" by keyboard.
    page.goto("/review/")
    expect(page.locator(".review-list li")).to_have_count(1)
    tab_to(page, "#approve-all-shown")
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text("Approved 1 caption.")
    assert in_own_thread(lambda: Caption.objects.filter(needs_review=True).count()) == 0
