"""Caption metrics.

* ``score_captions`` / ``evaluate``: BLEU-1..4, METEOR, ROUGE-L, CIDEr (CIDEr-D as in coco-caption)
  through pycocoevalcap, with its standard PTB tokenisation (Stanford CoreNLP jar; METEOR's jar;
  both run on the machine's Java). SPICE is optional and skipped when it cannot run.
* Similarities for the hot path (ensemble consensus, fine-tuning validation), without Java:
  ``sentence_bleu`` (pycocoevalcap's BLEU n-gram counts with add-one smoothing), ``cider_d``
  (pycocoevalcap's CiderScorer), ``consensus_scores`` (minimum Bayes risk). Their tokeniser is
  ``simple_tokenize`` (lower case, punctuation dropped): pycocoevalcap's PTB tokeniser runs
  Stanford CoreNLP on Java, too slow and too heavy for a per-batch call.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

__all__ = [
    "simple_tokenize",
    "sentence_bleu",
    "cider_d",
    "consensus_scores",
    "score_captions",
    "evaluate",
    "java_available",
]

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def simple_tokenize(text: str) -> str:
    """Lower-case, punctuation dropped: a fast stand-in for PTB tokenisation (pure Python)."""
    return " ".join(_WORD_RE.findall((text or "").lower()))


def sentence_bleu(hyp: str, refs: Sequence[str], n: int = 4) -> float:
    """Smoothed sentence BLEU-n (add-one on n>1 precisions, Lin & Och 2004), in [0, 1].

    The n-gram counts, clipping and closest reference length are pycocoevalcap's (``cook_refs`` /
    ``cook_test`` of its BLEU scorer); only the smoothing is added here: pycocoevalcap's per-sentence
    BLEU is unsmoothed, which gives ~0 to any short caption without a shared 4-gram (useless for
    comparing candidates of one image)."""
    from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test

    h = simple_tokenize(hyp)
    rs = [simple_tokenize(r) for r in refs]
    if not h or not any(rs):
        return 0.0
    comps = cook_test(h, cook_refs(rs, n=n), eff="closest", n=n)
    if comps["correct"][0] == 0:
        return 0.0
    log_p = 0.0
    for k in range(n):
        match, total = comps["correct"][k], comps["guess"][k]
        p = match / total if k == 0 else (match + 1) / (total + 1)
        log_p += math.log(p) / n
    length, ref_len = comps["testlen"], comps["reflen"]
    bp = 1.0 if length > ref_len else math.exp(1 - ref_len / max(length, 1))
    return float(bp * math.exp(log_p))


def cider_d(hyps: Sequence[str], refs: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0) -> list[float]:
    """CIDEr-D per item: pycocoevalcap's CiderScorer (document frequency over the items' reference
    sets; needs at least two items for non-zero idf). Inputs are tokenised with ``simple_tokenize``
    (pycocoevalcap's PTB tokeniser needs Java; this is the hot path of ensemble consensus)."""
    from pycocoevalcap.cider.cider_scorer import CiderScorer

    if not hyps:
        return []
    scorer = CiderScorer(n=n, sigma=sigma)
    for hyp, rs in zip(hyps, refs, strict=True):
        scorer += (simple_tokenize(hyp), [simple_tokenize(r) for r in rs])
    _, scores = scorer.compute_score()
    return [float(x) for x in scores]


def consensus_scores(candidates: Sequence[str], method: str = "bleu", context: Sequence[Sequence[str]] = ()) -> list[float]:
    """Minimum-Bayes-risk consensus: each candidate's mean similarity to the other candidates.

    method 'bleu' (smoothed sentence BLEU-4) or 'cider' (CIDEr-D, idf from ``context``: the
    candidate sets of the other images of the batch; falls back to BLEU without context).
    """
    n = len(candidates)
    if n <= 1:
        return [1.0] * n
    if method == "cider" and context:
        pools = [list(candidates)] + [list(c) for c in context if c]
        if len(pools) >= 2:
            out = []
            for i, c in enumerate(candidates):
                others = [o for j, o in enumerate(candidates) if j != i]
                refs = [others] + [p for p in pools[1:]]
                hyps = [c] + [p[0] for p in pools[1:]]
                out.append(cider_d(hyps, refs)[0])
            return out
    out = []
    for i, c in enumerate(candidates):
        others = [o for j, o in enumerate(candidates) if j != i]
        out.append(sum(sentence_bleu(c, [o]) for o in others) / len(others))
    return out


# -- pycocoevalcap ----------------------------------------------------------------------------


def java_available() -> bool:
    return shutil.which("java") is not None


def score_captions(
    references: dict[Any, Sequence[str]],
    hypotheses: dict[Any, str],
    spice: bool = False,
    meteor: bool = True,
    meteor_timeout: float = 300.0,
) -> dict[str, Any]:
    """Corpus scores of ``hypotheses`` (id -> caption) against ``references`` (id -> captions):
    Bleu_1..4, METEOR, ROUGE_L, CIDEr (and SPICE when asked and it can run). Keys as in
    coco-caption. Also returns 'per_image' {id: {metric: value}} and 'skipped' {metric: reason}.
    """
    import io

    ids = [i for i in hypotheses if i in references]
    if not ids:
        raise ValueError("no hypothesis has references")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocoevalcap prints progress chatter
        return _score_captions(references, hypotheses, ids, spice, meteor, meteor_timeout)


def _score_captions(references, hypotheses, ids, spice, meteor, meteor_timeout) -> dict[str, Any]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts_raw = {i: [{"caption": c} for c in references[i]] for i in ids}
    res_raw = {i: [{"caption": hypotheses[i] or ""}] for i in ids}
    skipped: dict[str, str] = {}
    if java_available():
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        tok = PTBTokenizer()
        gts, res = tok.tokenize(gts_raw), tok.tokenize(res_raw)
        tokenizer = "ptb"
    else:
        gts = {i: [simple_tokenize(c["caption"]) for c in v] for i, v in gts_raw.items()}
        res = {i: [simple_tokenize(c["caption"]) for c in v] for i, v in res_raw.items()}
        tokenizer = "simple (java not found)"
    # pycocoevalcap asserts on empty hypotheses in some scorers; use a placeholder token.
    res = {i: [v[0] if v and v[0].strip() else "<empty>"] for i, v in res.items()}

    scorers: list[tuple[Any, Any]] = [(Bleu(4), ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"])]
    if meteor:
        if java_available():
            from pycocoevalcap.meteor.meteor import Meteor

            scorers.append((Meteor, "METEOR"))
        else:
            skipped["METEOR"] = "java not found"
    scorers += [(Rouge(), "ROUGE_L"), (Cider(), "CIDEr")]
    if spice:
        if java_available():
            try:
                from pycocoevalcap.spice.spice import Spice

                scorers.append((Spice(), "SPICE"))
            except Exception as exc:  # noqa: BLE001
                skipped["SPICE"] = f"{type(exc).__name__}: {exc}"
        else:
            skipped["SPICE"] = "java not found"

    scores: dict[str, float] = {}
    per_image: dict[Any, dict[str, float]] = {i: {} for i in ids}
    for scorer, names in scorers:
        watchdog = None
        try:
            if scorer is not None and isinstance(scorer, type):
                scorer = scorer()
            proc = getattr(scorer, "meteor_p", None)
            if proc is not None:  # the METEOR jar talks over a pipe: never let it hang us
                import threading

                watchdog = threading.Timer(meteor_timeout, proc.kill)
                watchdog.daemon = True
                watchdog.start()
            corpus, items = scorer.compute_score(gts, res)
        except Exception as exc:  # noqa: BLE001 - optional metrics may fail (jar, memory)
            for nm in names if isinstance(names, list) else [names]:
                skipped[nm] = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        finally:
            if watchdog is not None:
                watchdog.cancel()
            close = getattr(scorer, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):  # a scorer that cannot close is no reason to fail
                    close()
        if isinstance(names, list):
            for nm, c, its in zip(names, corpus, items, strict=False):
                scores[nm] = float(c)
                for i, v in zip(ids, its, strict=False):
                    per_image[i][nm] = float(v)
        else:
            scores[names] = float(corpus)
            for i, v in zip(ids, items, strict=False):
                per_image[i][names] = float(v if not isinstance(v, dict) else v.get("All", {}).get("f", 0.0))
    return {"scores": scores, "per_image": per_image, "skipped": skipped, "tokenizer": tokenizer, "n": len(ids)}


def _load_coco(path: str) -> tuple[dict[Any, str], dict[Any, list[str]]]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    files = {img["id"]: img["file_name"] for img in data.get("images", [])}
    refs: dict[Any, list[str]] = defaultdict(list)
    for ann in data.get("annotations", []):
        refs[ann["image_id"]].append(ann["caption"])
    return files, dict(refs)


def evaluate(
    captioner,
    coco_annotations_json: str,
    image_dir: str,
    out_json: str | None = None,
    params=None,
    batch_size: int = 16,
    limit: int | None = None,
    spice: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Caption every image of a COCO-format annotation file, score against its references, and
    write per-image captions + scores to ``out_json`` (default: <annotations>.eval.json).
    Returns the same dict."""
    from tqdm.auto import tqdm

    from .images import captioner_target_size
    from .params import GenerationParams
    from .training.datasets import open_image

    params = params or GenerationParams()
    target = captioner_target_size(captioner)  # the same decode as the worker's
    files, refs = _load_coco(coco_annotations_json)
    ids = [i for i in files if i in refs]
    if limit:
        ids = ids[:limit]
    hyps: dict[Any, str] = {}
    per: dict[Any, dict[str, Any]] = {}
    t0 = time.perf_counter()
    bar = tqdm(total=len(ids), desc="evaluate", unit="img", disable=not progress)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        imgs = []
        for i in chunk:
            imgs.append(open_image(os.path.join(image_dir, files[i]), target_size=target))
        for i, r in zip(chunk, captioner.caption(imgs, params), strict=False):
            hyps[i] = r.text
            per[i] = {"image_id": i, "file_name": files[i], "caption": r.text, "raw_text": r.raw_text,
                      "confidence": r.confidence, "references": refs[i]}
        bar.update(len(chunk))
    bar.close()
    elapsed = time.perf_counter() - t0
    scored = score_captions({i: refs[i] for i in ids}, hyps, spice=spice)
    for i, s in scored["per_image"].items():
        per[i]["scores"] = s
    out = {
        "model_id": getattr(captioner, "model_id", None),
        "model_version": getattr(captioner, "model_version", None),
        "params": params.to_dict(),
        "annotations": os.path.abspath(coco_annotations_json),
        "n_images": len(ids),
        "seconds": round(elapsed, 3),
        "scores": scored["scores"],
        "skipped": scored["skipped"],
        "tokenizer": scored["tokenizer"],
        "per_image": [per[i] for i in ids],
    }
    out_json = out_json or os.path.splitext(coco_annotations_json)[0] + ".eval.json"
    with open(out_json, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=2, default=str)
    out["out_json"] = out_json
    return out
