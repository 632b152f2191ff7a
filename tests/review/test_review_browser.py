"""The keyboard-driven review flow in a real Chromium (Debian's, driven by Playwright)."""

import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from captions.models import Image
from feedback.models import Feedback, ReviewAction

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


@pytest.fixture
def browser_context(live_server, monkeypatch):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium); CI does.")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            # While Playwright's loop runs, Django keeps this test's database connection apart
            # from the thread's (asgiref sees an async context): close it, or it outlives the test.
            connections.close_all()
            context.close()
            browser.close()
            _wait_for_request_threads()


def _wait_for_request_threads(timeout: float = 10.0) -> None:
    """The live server answers each browser connection in a thread with its own database
    connection, closed when the browser hangs up; wait for that, or the test database is still
    in use when it is dropped (PostgreSQL refuses)."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name:
            thread.join(max(0.0, deadline - time.monotonic()))


def logged_in_page(context, live_server, user):
    client = Client()
    client.force_login(user)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": live_server.url}]
    )
    return context.new_page()


def test_approve_edit_rate_and_pick_with_the_keyboard(browser_context, live_server, owner, captioned):
    from playwright.sync_api import expect

    first = captioned(owner, text="a blurry photo", confidence=0.1)
    second = captioned(owner, text="a cat on a sofa", confidence=0.2)
    third = captioned(
        owner,
        text="two dogs",
        confidence=0.3,
        candidates=[
            {"text": "two dogs", "score": 0.3},
            {"text": "two dogs playing", "score": 0.28},
            {"text": "two dogs running on a beach", "score": 0.25},
        ],
    )
    page = logged_in_page(browser_context, live_server, owner)
    page.goto("/review/")
    remaining = page.locator("#review-remaining")
    caption = page.locator("#review-caption")
    expect(remaining).to_have_text("3")
    expect(caption).to_have_text("a blurry photo")
    expect(page.locator("#shortcuts")).to_contain_text("approve")
    # Set a marker that a full page load would wipe: everything below happens without one.
    page.evaluate("window.reviewMarker = 'still here'")
    page.keyboard.press("j")  # single keys act only while the focus is in the review panel
    expect(caption).to_have_text("a blurry photo")
    page.locator("#review-panel").focus()

    page.keyboard.press("j")
    expect(caption).to_have_text("a cat on a sofa")
    page.keyboard.press("k")
    expect(caption).to_have_text("a blurry photo")

    page.keyboard.press("a")
    expect(remaining).to_have_text("2")
    expect(caption).to_have_text("a cat on a sofa")
    assert ReviewAction.objects.get(caption=first).action == "approve"

    page.keyboard.press("e")
    editor = page.locator("#edit-text")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("a cat on a sofa")
    editor.fill("   ")
    editor.press("Enter")
    expect(page.locator("#review-panel .field-error")).to_contain_text("cannot be empty")
    editor = page.locator("#edit-text")
    editor.fill("a ginger cat asleep on a sofa")
    editor.press("Enter")
    expect(remaining).to_have_text("1")
    expect(caption).to_have_text("two dogs")
    current = Image.objects.get(pk=second.image_id).current_caption
    assert (current.text, current.source, current.created_by_id) == ("a ginger cat asleep on a sofa", "human", owner.pk)

    page.get_by_role("radio", name="2 stars").check()  # choosing a star does not save it yet
    assert not Feedback.objects.filter(caption=third).exists()
    page.locator(".rating-widget").get_by_role("button", name="Save rating").click()
    expect(page.locator(".rating-widget .saved")).to_be_visible()
    assert Feedback.objects.get(caption=third).rating == 2

    page.keyboard.press("2")
    expect(remaining).to_have_text("0")
    expect(page.locator("#review-empty")).to_be_visible()
    assert Image.objects.get(pk=third.image_id).current_caption.text == "two dogs running on a beach"
    assert ReviewAction.objects.get(caption=third).action == "pick"

    assert page.evaluate("window.reviewMarker") == "still here"


def test_reject_from_the_keyboard_queues_a_new_caption(browser_context, live_server, owner, captioned):
    from playwright.sync_api import expect

    caption = captioned(owner, text="a wrong caption", confidence=0.1)
    page = logged_in_page(browser_context, live_server, owner)
    page.goto("/review/")
    expect(page.locator("#review-remaining")).to_have_text("1")
    page.locator("#review-panel button.approve").focus()
    page.keyboard.press("r")
    beams = page.locator("#reject-panel input[name=num_beams]")
    expect(beams).to_be_focused()
    page.keyboard.press("Enter")  # the form comes filled with settings other than the caption's
    expect(page.locator("#review-remaining")).to_have_text("0")
    expect(page.locator("#review-notice")).to_contain_text("Rejected")
    image = Image.objects.get(pk=caption.image_id)
    assert image.status == "queued"
    assert image.params["num_beams"] == caption.params["num_beams"] + 2
