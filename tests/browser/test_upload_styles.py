"""The upload form's style, language and model in a real browser:
the page says what the site's model writes, the Style list marks what the chosen model cannot
write, and a style the model cannot write is an error AT the Style field (focus there, nothing
stored, no further part sent), with no axe-core violation at 390 and 1280 px."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import check_page, in_own_thread, make_user, sign_in
from tests.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_tags_with_blip_is_a_style_field_error_and_a_vlm_may_write_tags(
    page, live_server, settings, tmp_path, tiny_blip_dir, tiny_vlm_dir
):
    from captions.models import Image

    settings.CAPTION_MODEL = tiny_blip_dir
    settings.CAPTION_MODEL_CHOICES = [tiny_vlm_dir]
    settings.MAX_FILES_PER_UPLOAD = 1  # two files: two parts; the first one's 400 stops the second

    sign_in(page, live_server.url, make_user())
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto("/")
    page.wait_for_load_state("load")

    style = page.locator("#upload-style")
    ability = page.locator("#upload-style-ability")
    expect(ability).to_have_text(f"The site's model, {tiny_blip_dir}, writes alt text in English only; choose a "
                                 f"vision-language model such as {tiny_vlm_dir} for other styles or languages.")
    expect(style.locator("option[value=tags]")).to_have_text(f"tags (not with {tiny_blip_dir})")
    expect(style.locator("option[value=alt]")).to_have_text("alt")

    files = []
    for i in range(2):
        path = tmp_path / f"img-{i}.png"
        path.write_bytes(image_bytes("PNG", size=(64, 48), color=(60 * i, 20, 200)))
        files.append(str(path))
    page.set_input_files("#upload-form input[type=file]", files)
    style.select_option("tags")
    page.get_by_role("button", name="Upload").click()

    error = page.locator("#upload-style-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("cannot write the caption style 'tags'")
    expect(style).to_have_attribute("aria-invalid", "true")
    expect(style).to_have_attribute("aria-describedby", "upload-style-error upload-style-hint")
    expect(style).to_be_focused()
    expect(page.locator("#upload-status")).to_contain_text("No file was stored")
    expect(page.locator("#upload-refusals li")).to_have_count(0)  # a field error, not a file refusal
    expect(page.get_by_role("button", name="Upload")).to_be_enabled()
    assert len(posts) == 1  # the second part was not sent
    assert in_own_thread(lambda: Image.objects.count()) == 0
    check_page(page, "gallery-style-field-error")

    # Choosing a vision-language model: tags is no longer marked, the hint says what it writes.
    page.locator("#upload-model").fill(tiny_vlm_dir)
    page.locator("#upload-model").dispatch_event("change")
    expect(style.locator("option[value=tags]")).to_have_text("tags")
    expect(ability).to_have_text(f"The chosen model, {tiny_vlm_dir}, writes every style in any language.")
    # An ensemble with BLIP writes what both can: tags is marked again.
    page.locator("#upload-model").fill(f"ensemble:{tiny_vlm_dir},{tiny_blip_dir}")
    expect(style.locator("option[value=tags]")).to_have_text(f"tags (not with ensemble:{tiny_vlm_dir},{tiny_blip_dir})")
    page.locator("#upload-model").fill(tiny_vlm_dir)

    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/", timeout=30_000)
    expect(page.get_by_text("1 image queued for captioning.").first).to_be_visible(timeout=30_000)  # one per part
    stored = in_own_thread(lambda: [(i.params.get("style"), i.model_spec) for i in Image.objects.all()])
    assert stored == [("tags", tiny_vlm_dir)] * 2
    expect(page.locator("#upload-style-error")).to_be_hidden()
