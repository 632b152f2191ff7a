"""The whole path with the keyboard alone: log in, choose files and upload, watch the
real worker caption them (one page-level poll, no per-card polling), review every caption (a
shortcut, a focused button, an edit), and export the upload's alt text. Only Tab, Shift+Tab,
Enter, Space and typed text; no click, no mouse."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import in_own_thread, tab_to
from tests.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "correct horse battery staple 7"


def test_upload_review_and_export_with_the_keyboard_only(page, caption_worker, tmp_path):
    from accounts.services import user_create

    in_own_thread(lambda: user_create(email="kay@example.com", password=PASSWORD))
    requests = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto("/accounts/login/")
    tab_to(page, "input[name=username], input[name=email]")
    page.keyboard.type("kay@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Upload images")).to_be_visible()
    page.wait_for_load_state("load")

    # The skip link is the first stop and moves focus to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    files = []
    for name, color in (("red.jpg", (230, 20, 20)), ("green.png", (20, 230, 20)), ("blue.jpg", (20, 20, 230))):
        path = tmp_path / name
        path.write_bytes(image_bytes("PNG" if name.endswith(".png") else "JPEG", size=(96, 64), color=color))
        files.append(str(path))
    tab_to(page, "#upload-form input[type=file]")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(files)
    expect(page.locator("#dropzone-files")).to_contain_text("3 selected")
    tab_to(page, "#upload-button")
    page.keyboard.press("Enter")

    expect(page.get_by_text("3 images queued for captioning.")).to_be_visible(timeout=20_000)
    # One poll for the page swaps the cards in as the worker finishes them, with a summary.
    expect(page.locator('.image-card[data-status="done"]')).to_have_count(3, timeout=90_000)
    expect(page.locator("#gallery-progress")).to_contain_text("3 of 3 finished.")
    polls = [url for url in requests if "/images/poll/" in url]
    assert not [url for url in requests if url.endswith("/card/")], "cards must not poll one by one"
    page.wait_for_timeout(3500)  # longer than the poll interval: polling has stopped
    assert len([url for url in requests if "/images/poll/" in url]) == len(polls)
    for card in page.locator(".image-card").all():  # thumbnails carry their caption as alt text
        assert card.locator("img").get_attribute("alt") == card.locator(".caption").inner_text().strip()

    # Review everything: the threshold goes to 1 so every caption of the tiny model is in the queue.
    tab_to(page, "a[href='/review/']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Review", exact=True)).to_be_visible()
    page.wait_for_load_state("load")
    tab_to(page, "input[name=review_threshold]")
    page.keyboard.type("1")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your review threshold was saved.")).to_be_visible()
    remaining = page.locator("#review-remaining")
    expect(remaining).to_have_text("3")

    page.keyboard.press("a")  # the focus is not in the review panel: a single key does nothing
    page.wait_for_timeout(500)
    expect(remaining).to_have_text("3")
    tab_to(page, "#review-panel button.approve")
    page.keyboard.press("a")  # the shortcut, from inside the panel
    expect(remaining).to_have_text("2")
    approve = page.locator("#review-panel button.approve")
    expect(approve).to_be_focused()  # the next item's first action, not <body>
    page.keyboard.press("Enter")  # the button itself
    expect(remaining).to_have_text("1")
    expect(approve).to_be_focused()
    expect(page.locator("#review-live")).to_contain_text("1 left to review.")
    tab_to(page, "#review-panel a[data-key=e]")
    page.keyboard.press("Enter")
    editor = page.locator("#edit-text")
    expect(editor).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("three coloured squares, written by a person")
    page.keyboard.press("Enter")
    expect(remaining).to_have_text("0")

    # Export the upload's alt text from an image's page.
    expect(page.locator("#review-panel")).to_be_focused()  # the queue is empty: the panel says so
    tab_to(page, "a[href='/']", backwards=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your images")).to_be_visible()
    expect(page.locator("#upload-disclosure")).not_to_have_attribute("open", "")  # folded away once there are images
    tab_to(page, ".image-card a[href*='/images/']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/images/*/")
    tab_to(page, "#batch-export a[download]")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert sorted(row["filename"] for row in rows) == ["blue.jpg", "green.png", "red.jpg"]
    assert "three coloured squares, written by a person" in [row["caption"] for row in rows]
    assert all(row["caption"] for row in rows)
