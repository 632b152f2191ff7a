"""A visitor's first page: what the site does, and the public demo captioning one image with the
real worker; checked with axe-core at 390 and 1280 px like every page."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import check_page
from tests.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_visitor_reads_the_landing_page_and_tries_the_demo(page, caption_worker, tmp_path):
    page.goto("/")
    expect(page.get_by_role("heading", name="Alt text for thousands of images")).to_be_visible()
    expect(page.get_by_role("link", name="Create an account")).to_be_visible()
    page.wait_for_load_state("load")
    check_page(page, "landing")

    photo = tmp_path / "sunset.jpg"
    photo.write_bytes(image_bytes("JPEG", size=(96, 64), color=(240, 120, 30)))
    page.get_by_label("Image", exact=True).set_input_files(str(photo))
    page.get_by_role("button", name="Caption it").click()
    expect(page.locator("#demo-result")).to_contain_text("Caption: ", timeout=90_000)
    shown = page.locator("#demo-result img#demo-image")  # the image itself, its caption as alt text
    expect(shown).to_be_visible()
    assert shown.get_attribute("alt") == page.locator("#demo-result p").inner_text().removeprefix("Caption: ")
    assert page.evaluate("document.getElementById('demo-image').naturalWidth") > 0
    expect(page.get_by_role("button", name="Caption it")).to_be_enabled()
    check_page(page, "landing-demo-captioned")

    page.get_by_label("Image", exact=True).set_input_files({"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not an image"})
    page.get_by_role("button", name="Caption it").click()
    expect(page.locator("#demo-result .error")).to_be_visible()
    check_page(page, "landing-demo-refused")
