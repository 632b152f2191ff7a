"""Every table of the site at 390 px (new-user trial): no cell narrower than about 8 characters
of its own text, no cell's content cut, and no table hiding columns in a scrolled-away part.
The tables stack their rows as cards there (each cell labelled with its column's name)."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import check_page, in_own_thread, sign_in
from tests.images import image_bytes, upload

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LONG_ALT = ("a red double-decker bus parked on a wide city street near tall glass office buildings "
            "while people with umbrellas wait at the stop")

# For each visible cell of each table: the width its text may use (the cell's inner width less a
# label floated in front of it), 8 average characters of its font, and whether anything overflows.
MEASURE_JS = """() => {
  const canvas = document.createElement('canvas').getContext('2d');
  const out = [];
  for (const table of document.querySelectorAll('main table')) {
    const box = table.closest('.table-scroll') || table.parentElement;
    if (box.scrollWidth > box.clientWidth + 1) out.push({problem: 'table wider than its box', where: table.id || table.className,
                                                         scroll: box.scrollWidth, client: box.clientWidth});
    for (const cell of table.querySelectorAll('td')) {
      if (!cell.offsetParent || !cell.textContent.trim() || cell.colSpan > 1) continue;
      const style = getComputedStyle(cell);
      canvas.font = style.font;
      const eight = 8 * canvas.measureText('abcdefghijklmnopqrstuvwxyz').width / 26;
      let usable = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      const before = getComputedStyle(cell, '::before');
      if (before.content !== 'none' && before.cssFloat !== 'none') usable -= parseFloat(before.width) + parseFloat(before.marginRight);
      const text = cell.textContent.trim().slice(0, 40);
      if (usable < Math.min(eight, canvas.measureText(cell.textContent.trim()).width))
        out.push({problem: 'too narrow', text, usable: Math.round(usable), eight: Math.round(eight)});
      if (cell.scrollWidth > cell.clientWidth + 1)
        out.push({problem: 'clipped', text, scroll: cell.scrollWidth, client: cell.clientWidth});
    }
  }
  return out;
}"""


def assert_tables_readable(page, name: str) -> None:
    page.set_viewport_size({"width": 390, "height": 900})
    page.wait_for_timeout(100)
    assert page.locator("main table td").count() > 0, f"{name}: no table on the page"
    problems = page.evaluate(MEASURE_JS)
    page.set_viewport_size({"width": 1280, "height": 900})
    assert problems == [], f"{name} at 390 px: {problems}"


def make_everything():
    """A staff user with a batch (long alt text), an image with a caption history, an API key used
    once, a fine-tuning run and two evaluation runs."""
    from django.contrib.auth.models import Permission
    from django.utils import timezone

    from accounts.models import ApiKey, User
    from accounts.services import api_key_create
    from captions.models import Caption, Image
    from captions.services.submission import image_submit
    from feedback.models import TrainingRun
    from monitoring.models import EvaluationRun

    user = User(email="trial@example.com", is_staff=True)
    user.set_unusable_password()
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_operations", "add_modelactivation",
                                                                         "review_all_images"]))
    files = [upload(f"holiday-photo-{i}.jpg", image_bytes("JPEG", size=(64, 48), color=(30 * i, 90, 120))) for i in range(3)]
    images = image_submit(owner=user, files=files).accepted
    for image in images:
        Caption.objects.create(image=image, text="a bus (first try)", raw_text="a bus", confidence=0.2, model_id="tiny/blip")
        caption = Caption.objects.create(image=image, text=LONG_ALT, raw_text=LONG_ALT, confidence=0.87,
                                         model_id="Salesforce/blip-image-captioning-large", params={})
        Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption, finished_at=timezone.now())
    key, _ = api_key_create(owner=user, name="my laptop script")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(hours=2))
    TrainingRun.objects.create(base_model="Salesforce/blip-image-captioning-base", output_dir="/models/blip-finetuned-2026-01",
                               status="succeeded", train_size=900, val_size=100,
                               metrics_before={"bleu4": 0.21, "cider": 0.6}, metrics_after={"bleu4": 0.25, "cider": 0.7})
    for spec in ("blip-base", "/models/blip-finetuned-2026-01"):
        EvaluationRun.objects.create(model_spec=spec, model_id=spec, dataset="coco-val-2017-500", annotations_path="a.json",
                                     images_dir="val", image_count=500,
                                     scores={"BLEU-1": 0.7, "BLEU-4": 0.21, "METEOR": 0.24, "ROUGE-L": 0.5, "CIDEr": 0.65})
    return user, str(images[0].public_id), images[0].batch_id


def test_every_table_is_readable_at_390_px(page, live_server):
    user, image_id, batch_id = in_own_thread(make_everything)
    sign_in(page, live_server.url, user)
    for name, url in (("batch", f"/batches/{batch_id}/"), ("image-history", f"/images/{image_id}/"),
                      ("api-keys", "/accounts/api-keys/"), ("models", "/review/models/"), ("dashboard", "/dashboard/")):
        page.goto(url)
        assert_tables_readable(page, name)
        check_page(page, f"table-{name}")
    # Stacked, each cell says which column it is (the header row is only for screen readers there).
    page.goto(f"/batches/{batch_id}/")
    page.set_viewport_size({"width": 390, "height": 900})
    label = page.evaluate("getComputedStyle(document.querySelector('td[data-label=\"Alt text\"]'), '::before').content")
    assert "Alt text" in label
    expect(page.get_by_text(LONG_ALT).first).to_be_visible()
