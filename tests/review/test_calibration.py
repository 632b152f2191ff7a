"""manage.py calibrate_confidence on synthetic judgments whose AUROC and threshold are known."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from captions.caption_request import caption_request_check
from captions.models import Caption
from captions.selectors import captioning_defaults
from feedback import services
from feedback.models import ConfidenceCalibration, Feedback
from tests.review.conftest import client_for, walk_queue

pytestmark = pytest.mark.django_db


def judge(owner, reviewer, captioned, good: list[float], bad: list[float]) -> None:
    """Label captions of the given confidences through every kind of human signal."""
    for n, confidence in enumerate(good):
        caption = captioned(owner, text=f"good {n}", confidence=confidence)
        if n % 2:
            services.caption_approve(caption=caption, reviewer=reviewer)
        else:
            Feedback.objects.create(user=owner, caption=caption, rating=4 + n % 2)
    for n, confidence in enumerate(bad):
        caption = captioned(owner, text=f"bad {n}", confidence=confidence)
        kind = n % 3
        if kind == 0:
            services.caption_edit(caption=caption, reviewer=reviewer, text="what it really shows")
        elif kind == 1:
            services.image_recaption(caption=caption, reviewer=reviewer, reject=True,
                                     request=caption_request_check({"num_beams": 5}, offered_model=False))
        else:
            Feedback.objects.create(user=owner, caption=caption, rating=1)
    # Say-nothing signals: a 3-star rating, and a rating of a human caption (no confidence).
    neutral = captioned(owner, text="neutral", confidence=0.05)
    Feedback.objects.create(user=owner, caption=neutral, rating=3)


def calibrate(*args) -> str:
    out = io.StringIO()
    call_command("calibrate_confidence", *args, stdout=out)
    return out.getvalue()


def test_a_mixed_set_gives_the_known_auroc_and_threshold(owner, reviewer, captioned):
    # 9 of the 12 good/bad pairs are ordered right: AUROC 0.75. Captions >= 0.5 are 3 good of 4.
    judge(owner, reviewer, captioned, good=[0.2, 0.5, 0.8, 0.9], bad=[0.1, 0.3, 0.6])
    output = calibrate("--target-precision", "0.75")
    assert "Judged captions    7 (4 good, 3 bad)" in output
    assert "AUROC              0.750" in output
    assert "Threshold for precision 0.75: 0.500 (precision 0.750, recall 0.750, 57.1% of captions skip review)" in output
    assert "     0.50      0.750   0.750      42.9%" in output  # the table row for 0.5
    calibration = ConfidenceCalibration.objects.get()
    assert (calibration.applied, calibration.threshold, calibration.auroc) == (False, 0.5, 0.75)
    assert captioning_defaults().review_threshold == 0.5  # not applied: the site's setting


def test_a_perfect_score_and_apply_moves_the_queue(client, owner, reviewer, captioned, settings):
    settings.CAPTION_REVIEW_THRESHOLD = 0.5
    judge(owner, reviewer, captioned, good=[0.6, 0.7, 0.8, 0.9], bad=[0.1, 0.2, 0.3])
    borderline = captioned(owner, text="borderline", confidence=0.55)
    assert borderline.needs_review is False

    output = calibrate("--target-precision", "0.9", "--apply")
    assert "AUROC              1.000" in output
    assert "The review threshold is now 0.600." in output
    assert captioning_defaults().review_threshold == 0.6

    client_for(client, owner)
    page = client.get(reverse("feedback:queue"))
    assert page.context["threshold"].source == "calibration"
    # Under 0.6 and not yet decided: the neutral and the 1-star captions, and now the borderline one.
    assert [Caption.objects.get(pk=pk).text for pk in walk_queue(client)] == ["neutral", "bad 2", "borderline"]


def test_nothing_to_calibrate_or_no_threshold_reaching_the_target(owner, reviewer, captioned):
    with pytest.raises(CommandError, match="nothing to calibrate"):
        calibrate()
    judge(owner, reviewer, captioned, good=[0.1, 0.2], bad=[0.8, 0.9])
    output = calibrate("--target-precision", "0.9")
    assert "AUROC              0.000" in output
    assert "Threshold for precision 0.90: none reaches it" in output
    with pytest.raises(CommandError, match="no threshold|none|No threshold"):
        calibrate("--target-precision", "0.9", "--apply")
    assert not ConfidenceCalibration.objects.filter(applied=True).exists()
