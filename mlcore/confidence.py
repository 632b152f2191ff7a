"""Caption confidence: sequence log-probability, image-text matching, sanity terms, and calibration.

BLIP's decoder gives no calibrated score, so we build one:

* sequence score: the length-normalised mean token log-probability of the caption (from the
  ``generate`` logits, no second pass), mapped to [0, 1] with ``exp(mean_logprob / temperature)``
  (temperature 1: the geometric-mean token probability);
* ITM score: when an image-text matching model is configured, its match probability;
* sanity factor: 0 for an empty caption, a penalty for a length out of range and for repeated n-grams;
* combined = weighted mean of the available scores x sanity factor, in [0, 1].

``calibrate(scores, labels, target_precision)`` reports AUROC and the review threshold that meets
a target precision on human good/bad labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .postprocess import repeated_ngram_ratio

__all__ = [
    "ConfidenceConfig",
    "DEFAULT_CONFIDENCE",
    "sequence_confidence",
    "sanity_factor",
    "combine",
    "auroc",
    "threshold_for_precision",
    "calibrate",
    "CalibrationReport",
]


@dataclass(frozen=True)
class ConfidenceConfig:
    """Weights of the combined score and the review threshold, in one place."""

    sequence_weight: float = 1.0
    itm_weight: float = 1.0
    sequence_temperature: float = 1.0  # conf = exp(mean_logprob / T); larger T -> higher scores
    min_words: int = 2
    max_words: int = 30
    length_penalty: float = 0.5  # factor when the word count is out of range
    repeat_penalty: float = 1.0  # factor = 1 - repeat_penalty * repeated-bigram share
    review_threshold: float = 0.35  # below -> needs human review

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_CONFIDENCE = ConfidenceConfig()


def sequence_confidence(mean_logprob: float | None, config: ConfidenceConfig = DEFAULT_CONFIDENCE) -> float:
    """Map a length-normalised mean token log-probability (<= 0) to [0, 1]."""
    if mean_logprob is None or not math.isfinite(mean_logprob):
        return 0.0
    t = max(config.sequence_temperature, 1e-6)
    return float(min(1.0, max(0.0, math.exp(min(0.0, mean_logprob) / t))))


def sanity_factor(
    text: str, config: ConfidenceConfig = DEFAULT_CONFIDENCE, raw_text: str | None = None
) -> tuple[float, list[str]]:
    """A factor in [0, 1] and the names of the checks that failed.

    ``text`` is the final caption; repeats are also looked for in ``raw_text`` (the model's own
    output), since post-processing collapses them but they still say the model was lost."""
    flags: list[str] = []
    words = [w for w in (text or "").split() if any(c.isalnum() for c in w)]
    if not words:
        return 0.0, ["empty"]
    factor = 1.0
    if len(words) < config.min_words or len(words) > config.max_words:
        factor *= config.length_penalty
        flags.append("length")
    rep = max(repeated_ngram_ratio(t, 2) for t in (text, raw_text or ""))
    if rep > 0:
        factor *= max(0.0, 1.0 - config.repeat_penalty * rep)
        flags.append("repeats")
    return factor, flags


def combine(
    text: str,
    mean_logprob: float | None,
    itm_prob: float | None = None,
    config: ConfidenceConfig = DEFAULT_CONFIDENCE,
    raw_text: str | None = None,
) -> tuple[float, dict[str, Any]]:
    """The combined confidence in [0, 1] and its components."""
    seq = sequence_confidence(mean_logprob, config)
    num = config.sequence_weight * seq
    den = config.sequence_weight
    if itm_prob is not None and config.itm_weight > 0:
        num += config.itm_weight * float(itm_prob)
        den += config.itm_weight
    base = num / den if den > 0 else 0.0
    factor, flags = sanity_factor(text, config, raw_text)
    score = float(min(1.0, max(0.0, base * factor)))
    details = {"sequence": round(seq, 6), "sanity": round(factor, 6), "flags": flags}
    if mean_logprob is not None and math.isfinite(mean_logprob):
        details["mean_logprob"] = round(float(mean_logprob), 6)
    if itm_prob is not None:
        details["itm"] = round(float(itm_prob), 6)
    return score, details


# -- calibration ------------------------------------------------------------------------------


def _as_labels(labels: Iterable[Any]) -> list[int]:
    out = []
    for lab in labels:
        if isinstance(lab, str):
            low = lab.strip().lower()
            if low in ("good", "1", "true", "yes", "ok", "approved"):
                out.append(1)
            elif low in ("bad", "0", "false", "no", "rejected"):
                out.append(0)
            else:
                raise ValueError(f"label {lab!r}: use 'good' or 'bad'")
        else:
            out.append(1 if lab else 0)
    return out


def auroc(scores: Sequence[float], labels: Iterable[Any]) -> float | None:
    """Area under the ROC curve (ties count half); None when only one class is present."""
    y = _as_labels(labels)
    if len(y) != len(scores):
        raise ValueError("scores and labels differ in length")
    pos = [s for s, label in zip(scores, y, strict=False) if label == 1]
    neg = [s for s, label in zip(scores, y, strict=False) if label == 0]
    if not pos or not neg:
        return None
    # Mann-Whitney U with mid-ranks.
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = mid
        i = j + 1
    rank_pos = sum(r for r, label in zip(ranks, y, strict=False) if label == 1)
    u = rank_pos - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


def threshold_for_precision(
    scores: Sequence[float], labels: Iterable[Any], target_precision: float
) -> dict[str, float | None]:
    """The lowest threshold t such that captions with score >= t have precision >= target.

    (The lowest such t keeps the most good captions out of review.) Returns threshold (None when
    no threshold reaches the target), precision, recall and coverage (share auto-accepted).
    """
    y = _as_labels(labels)
    n = len(y)
    total_pos = sum(y)
    best: dict[str, float | None] = {"threshold": None, "precision": None, "recall": 0.0, "coverage": 0.0}
    for t in sorted(set(scores), reverse=True):
        accepted = [label for s, label in zip(scores, y, strict=False) if s >= t]
        prec = sum(accepted) / len(accepted)
        if prec >= target_precision:
            best = {
                "threshold": float(t),
                "precision": prec,
                "recall": (sum(accepted) / total_pos) if total_pos else 0.0,
                "coverage": len(accepted) / n,
            }
    return best


@dataclass
class CalibrationReport:
    n: int
    n_good: int
    auroc: float | None
    target_precision: float
    threshold: float | None
    precision: float | None
    recall: float
    coverage: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def config(self, base: ConfidenceConfig = DEFAULT_CONFIDENCE) -> ConfidenceConfig:
        """``base`` with the review threshold replaced by the one found (when one was)."""
        if self.threshold is None:
            return base
        from dataclasses import replace

        return replace(base, review_threshold=self.threshold)


def calibrate(scores: Sequence[float], labels: Iterable[Any], target_precision: float = 0.9) -> CalibrationReport:
    """Given human good/bad labels for captions and their confidences, report AUROC and the
    review threshold that meets ``target_precision`` among auto-accepted captions."""
    y = _as_labels(labels)
    scores = [float(s) for s in scores]
    t = threshold_for_precision(scores, y, target_precision)
    return CalibrationReport(
        n=len(y),
        n_good=sum(y),
        auroc=auroc(scores, y),
        target_precision=target_precision,
        threshold=t["threshold"],
        precision=t["precision"],
        recall=float(t["recall"] or 0.0),
        coverage=float(t["coverage"] or 0.0),
    )
