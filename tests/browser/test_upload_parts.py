"""The upload script (static/js/upload.js): more files than MAX_FILES_PER_UPLOAD go in several
requests, a progress bar counts bytes and files, the button is disabled while sending, and each
refused file is listed as its part comes back."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import in_own_thread, make_user, sign_in
from tests.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_many_files_go_in_parts_with_progress_and_refusals(page, live_server, settings, tmp_path):
    from captions.models import Image

    settings.MAX_FILES_PER_UPLOAD = 2

    sign_in(page, live_server.url, make_user())
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    page.goto("/")
    page.wait_for_load_state("load")

    files = []
    for i in range(5):
        path = tmp_path / f"img-{i}.png"
        path.write_bytes(image_bytes("PNG", size=(300, 200), color=(50 * i, 20, 200 - 40 * i)))
        files.append(str(path))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    files.insert(3, str(bad))
    page.set_input_files("#upload-form input[type=file]", files)

    # Record what a person would see while sending (the answers may come back quickly).
    page.evaluate("""() => {
        window.seen = {disabled: [], progress: []};
        const button = document.getElementById('upload-button');
        new MutationObserver(() => window.seen.disabled.push(button.disabled))
            .observe(button, {attributes: true, attributeFilter: ['disabled']});
        new MutationObserver(() => window.seen.progress.push(document.getElementById('upload-progress-text').textContent))
            .observe(document.getElementById('upload-progress-text'), {childList: true, characterData: true, subtree: true});
    }""")
    button = page.get_by_role("button", name="Upload")
    button.press("Enter")
    # All parts sent: the refusal is listed, the button is back, the good files are stored.
    expect(page.locator("#upload-status")).to_contain_text("5 images queued for captioning; 1 refused", timeout=30_000)
    expect(page.locator("#upload-refusals li")).to_have_count(1)
    expect(page.locator("#upload-refusals li")).to_contain_text("broken.jpg")
    expect(button).to_be_enabled()
    expect(page.locator("#upload-bar")).to_have_attribute("value", "100")
    seen = page.evaluate("window.seen")
    assert seen["disabled"][:1] == [True] and seen["disabled"][-1] is False  # disabled while sending
    assert any("of 6" in text and re.search(r"\d+ KiB of \d+ KiB", text) for text in seen["progress"]), seen["progress"]  # small files in KiB, not "0.0 MiB"
    assert len(posts) == 3  # 6 files, at most 2 per request
    assert in_own_thread(lambda: Image.objects.count()) == 5
    # The new cards appear below without a reload, and the refusal stays listed.
    expect(page.locator("#upload-status")).to_contain_text("The new images are shown below.")
    expect(page.locator(".image-card")).to_have_count(5)
    expect(page.locator("#upload-refusals li")).to_have_count(1)
