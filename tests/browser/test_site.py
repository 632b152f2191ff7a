"""A person's path through the site in a real browser: sign up, upload three images with the file
input, watch the badges turn to done, copy the alt text, and (as staff) open the dashboard."""

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.conftest import in_own_thread
from tests.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "correct horse battery staple 7"


def test_sign_up_upload_watch_captions_copy_alt_text_and_open_the_dashboard(page, caption_worker, tmp_path):
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", "grace@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()
    page.wait_for_load_state("load")  # upload.js (deferred) lists the chosen files

    files = []
    for name, color in (("red.jpg", (230, 20, 20)), ("green.png", (20, 230, 20)), ("blue.jpg", (20, 20, 230))):
        path = tmp_path / name
        path.write_bytes(image_bytes("PNG" if name.endswith(".png") else "JPEG", size=(96, 64), color=color))
        files.append(str(path))
    page.set_input_files("#upload-form input[type=file]", files)
    expect(page.locator("#dropzone-files")).to_contain_text("3 selected")
    page.locator("#upload-form").get_by_role("button", name="Upload").click()

    expect(page.get_by_text("3 images queued for captioning.")).to_be_visible()
    cards = page.locator(".image-card")
    expect(cards).to_have_count(3)
    # htmx re-fetches each unfinished card every 2 s until the worker has captioned it.
    expect(page.locator('.image-card[data-status="done"]')).to_have_count(3, timeout=60_000)
    for index in range(3):
        expect(cards.nth(index).locator(".badge-done")).to_have_text("Done")
        expect(cards.nth(index).locator(".caption")).not_to_be_empty()

    cards.first.locator("a").first.click()
    page.wait_for_url("**/images/*/")
    page.wait_for_load_state("load")  # the copy button's script is deferred
    alt_text = page.locator("#alt-text").inner_text().strip()
    assert alt_text
    expect(page.locator(".detail-image img")).to_have_attribute("alt", alt_text)
    copy = page.locator("button[data-copy-target=alt-text]")  # by role it would be renamed away
    expect(copy).to_have_text("Copy alt text")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == alt_text

    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
    def make_operator():
        from django.contrib.auth.models import Permission

        grace = User.objects.get(email="grace@example.com")
        grace.is_staff = True
        grace.save(update_fields=["is_staff"])
        grace.user_permissions.add(Permission.objects.get(codename="view_operations"))

    in_own_thread(make_operator)
    page.goto("/")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#tile-captioned .value")).to_have_text("3")
    expect(page.locator("#tile-queue .value")).to_have_text("0 / 0")
    expect(page.locator("#chart-confidence svg")).to_be_visible()
