"""The dashboard's charts at 390 px (new-user trial): every axis label shown is at least ~12 px
high on screen and no two overlap; the evaluation chart's legend is readable text."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import check_page, in_own_thread, sign_in
from tests.browser.test_narrow_tables import make_everything

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LABELS_JS = """() => Array.from(document.querySelectorAll('svg.chart text')).filter(t => getComputedStyle(t).display !== 'none')
  .map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * t.ownerSVGElement.getScreenCTM().a,
            chart: t.ownerSVGElement.getAttribute('aria-label'), left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  })"""


def overlapping(labels):
    pairs = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            if a["chart"] == b["chart"] and a["left"] < b["right"] - 1 and b["left"] < a["right"] - 1 \
                    and a["top"] < b["bottom"] - 1 and b["top"] < a["bottom"] - 1:
                pairs.append((a["text"], b["text"]))
    return pairs


@pytest.mark.parametrize("width", [390, 1280])
def test_chart_labels_are_readable_and_apart(page, live_server, width):
    user, _, _ = in_own_thread(make_everything)
    sign_in(page, live_server.url, user)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/dashboard/?period=30d")
    expect(page.locator("svg.chart").first).to_be_visible()
    labels = page.evaluate(LABELS_JS)
    assert len({label["chart"] for label in labels}) >= 3, labels  # the charts and their labels are there
    small = [(label["text"], round(label["px"], 1)) for label in labels if label["px"] < 11.5]
    assert small == [], f"axis labels under 12 px at {width} px: {small}"
    assert overlapping(labels) == []
    assert "ROUGE-L" in [label["text"] for label in labels]  # every metric of the evaluation chart is named
    expect(page.locator(".chart-legend li")).to_have_count(2)
    expect(page.locator(".chart-legend").first).to_contain_text("blip-base")
    if width == 390:
        check_page(page, "dashboard-charts")
