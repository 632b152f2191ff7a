"""The review queue by keyboard at volume: after every action (approve, save an edit, reject) the
focus is on the next item's first action and the live region says what happened (WCAG 2.4.3);
single-key shortcuts act only in the review panel and follow the user's setting: off, or keys of
their own (WCAG 2.1.4)."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import check_page, in_own_thread, make_user, sign_in, tab_to

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def queue_of(owner, count: int) -> list[str]:
    """`count` captions that need review, lowest confidence first; their texts."""
    from django.utils import timezone

    from captions.models import Caption, Image
    from captions.services.submission import image_submit
    from tests.images import image_bytes, upload

    def fill():
        files = [upload(f"photo-{i}.jpg", image_bytes("JPEG", size=(48, 40), color=(30 * i, 90, 200 - 30 * i)))
                 for i in range(count)]
        texts = []
        for i, image in enumerate(image_submit(owner=owner, files=files).accepted):
            text = f"caption number {i}"
            caption = Caption.objects.create(image=image, text=text, raw_text=text, confidence=0.1 + i / 100,
                                             model_id="tiny/blip", params={"num_beams": 3}, needs_review=True)
            Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption,
                                                     finished_at=timezone.now())
            texts.append(text)
        return texts

    return in_own_thread(fill)


def test_focus_follows_each_review_action(page, live_server):
    owner = make_user()
    texts = queue_of(owner, 4)
    sign_in(page, live_server.url, owner)
    page.goto("/review/")
    remaining, caption = page.locator("#review-remaining"), page.locator("#review-caption")
    approve = page.locator("#review-panel button.approve")
    expect(remaining).to_have_text("4")

    tab_to(page, "#review-panel button.approve")
    page.keyboard.press("Enter")  # approve
    expect(remaining).to_have_text("3")
    expect(caption).to_have_text(texts[1])
    expect(approve).to_be_focused()
    expect(page.locator("#review-live")).to_contain_text(f"Approved the caption “{texts[0]}”")
    expect(page.locator("#review-live")).to_contain_text("3 left to review.")

    page.keyboard.press("Tab")  # the next stop after Approve is Edit
    expect(page.locator("#review-panel a[data-key=e]")).to_be_focused()
    page.keyboard.press("Enter")
    editor = page.locator("#edit-text")
    expect(editor).to_be_focused()
    editor.fill("a person's caption")
    page.keyboard.press("Enter")  # save the edit
    expect(remaining).to_have_text("2")
    expect(approve).to_be_focused()
    expect(page.locator("#review-live")).to_contain_text("2 left to review.")

    page.keyboard.press("r")  # reject: the panel opens with its first field focused
    expect(page.locator("#reject-panel input[name=num_beams]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(remaining).to_have_text("1")
    expect(approve).to_be_focused()
    expect(page.locator("#review-live")).to_contain_text("Rejected")
    check_page(page, "review-after-reject")

    page.keyboard.press("a")
    expect(remaining).to_have_text("0")
    expect(page.locator("#review-panel")).to_be_focused()  # nothing left: the panel that says so


def test_shortcuts_act_in_the_panel_only_and_follow_the_users_setting(page, live_server):
    owner = make_user()
    texts = queue_of(owner, 3)
    sign_in(page, live_server.url, owner)
    page.goto("/review/")
    remaining, caption = page.locator("#review-remaining"), page.locator("#review-caption")
    expect(page.locator("#shortcuts")).to_contain_text("approve")

    # Outside the panel (here in the batch filter) a single key does nothing.
    page.locator("#review-filters select[name=batch]").focus()
    page.keyboard.press("j")
    page.wait_for_timeout(300)
    expect(caption).to_have_text(texts[0])

    # Remap approve to y and next to n; a key used twice, or a digit that picks alternatives, is refused.
    page.get_by_text("Change or turn off the shortcuts").click()
    page.get_by_label("Key for approve").fill("1")
    page.get_by_role("button", name="Save shortcuts").click()
    expect(page.locator(".messages")).to_contain_text("1 to 5 pick an alternative")
    page.get_by_text("Change or turn off the shortcuts").click()
    page.get_by_label("Key for approve").fill("k")
    page.get_by_role("button", name="Save shortcuts").click()
    expect(page.locator(".messages")).to_contain_text("Already the key for approve")
    page.get_by_text("Change or turn off the shortcuts").click()
    page.get_by_label("Key for approve").fill("y")
    page.get_by_label("Key for next").fill("n")
    page.get_by_role("button", name="Save shortcuts").click()
    expect(page.locator(".messages")).to_contain_text("Your shortcuts were saved.")
    expect(page.locator("#shortcuts")).to_contain_text("y")
    expect(page.locator("#review-panel button.approve kbd")).to_have_text("y")

    page.locator("#review-panel").focus()
    page.keyboard.press("a")  # the old key does nothing now
    page.keyboard.press("j")
    page.wait_for_timeout(300)
    expect(remaining).to_have_text("3")
    expect(caption).to_have_text(texts[0])
    page.keyboard.press("n")
    expect(caption).to_have_text(texts[1])
    page.keyboard.press("y")
    expect(remaining).to_have_text("2")

    # Turned off: no single key acts, the buttons still do, and no key hint is shown.
    page.get_by_text("Change or turn off the shortcuts").click()
    page.get_by_label("Single-key shortcuts on").uncheck()
    page.get_by_role("button", name="Save shortcuts").click()
    expect(page.locator(".messages")).to_contain_text("Single-key shortcuts are off.")
    expect(page.locator("#shortcuts-off")).to_be_visible()
    expect(page.locator("#review-panel kbd")).to_have_count(0)
    page.locator("#review-panel").focus()
    for key in ("y", "a", "n", "j", "1"):
        page.keyboard.press(key)
    page.wait_for_timeout(300)
    expect(remaining).to_have_text("2")
    page.locator("#review-panel button.approve").press("Enter")
    expect(remaining).to_have_text("1")

    from feedback.models import ReviewerSettings

    stored = in_own_thread(lambda: ReviewerSettings.objects.values("shortcuts_enabled", "shortcut_keys").get())
    assert stored == {"shortcuts_enabled": False, "shortcut_keys": {"approve": "y", "next": "n"}}
