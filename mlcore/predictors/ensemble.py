"""Ensembles: several captioners on the same batch, one caption per image.

``pick='confidence'``: the candidate with the highest confidence over all members.
``pick='consensus'``: minimum Bayes risk, the candidate with the highest mean similarity
(smoothed BLEU-4, or CIDEr-D with ``sim='cider'``) to the other members' candidates.
Members are loaded once (through the process-wide cache) and run in turn on the same batch.

Members may mix local models, ``openai:`` engines and ``fallback:`` chains:

* A member that cannot caption some images (mlcore.engines.EngineUnavailable: a server down or
  failing) does not fail the ensemble: those images are captioned from the other members, and
  ``details['members']`` records that member's ``error`` for them. An image that no member
  captioned is reported through EngineUnavailable (``engine`` = the ensemble, ``partial`` = the
  others' results), as an engine does, so nothing is lost. Other errors (UnsupportedStyle, a
  model bug) propagate.
* ``details['confidence_source']`` is the chosen member's (``unknown`` for a server that returns
  no logprobs: its confidence is not a measurement and the host treats it as such; the sequence
  term of such a candidate is 0, so with ``pick='confidence'`` a measured candidate ranks first).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import replace

from ..catalog import Capabilities
from ..engines import EngineUnavailable
from ..metrics import consensus_scores
from ..params import GenerationParams
from ..results import CaptionResult
from .base import EMPTY_CAPTION_ERROR, Captioner, check_images, stamp_style

__all__ = ["EnsembleCaptioner"]


class EnsembleCaptioner(Captioner):
    kind = "ensemble"
    family = "ensemble"

    def __init__(self, members: Sequence[Captioner], pick: str = "confidence", spec=None, sim: str = "bleu"):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if pick not in ("confidence", "consensus"):
            raise ValueError(f"pick must be 'confidence' or 'consensus', got {pick!r}")
        self.members = list(members)
        self.pick = pick
        self.sim = (spec.option("sim", sim) if spec is not None else sim) or "bleu"
        self.model_id = "ensemble:" + ",".join(m.model_id for m in self.members) + (
            ";pick=consensus" if pick == "consensus" else ""
        )
        self.model_version = hashlib.sha256(
            "|".join(f"{m.model_id}@{m.model_version}" for m in self.members).encode() + pick.encode()
        ).hexdigest()[:12]
        self.device = self.members[0].device
        self.dtype = self.members[0].dtype
        super().__init__(confidence_config=self.members[0].confidence_config)
        self.max_batch_size = 1 << 30  # members chunk themselves

    def generate_raw(self, images, params):  # pragma: no cover - not used: caption() is overridden
        raise NotImplementedError

    def capabilities(self) -> Capabilities:
        """Every member captions every image: what every member can write (the intersection)."""
        return Capabilities.all_of(m.capabilities() for m in self.members)

    def check_style(self, params: GenerationParams) -> None:
        """UnsupportedStyle naming the member(s) that cannot write params.style / params.language."""
        caps = self.capabilities()
        if caps.refusal(params) is None:
            return
        refusing = [m.model_id for m in self.members if m.capabilities().refusal(params) is not None]
        caps.check(params, self.model_id, reason=(
            f"its member{'s' if len(refusing) > 1 else ''} {', '.join(refusing)} cannot; "
            "every member of an ensemble captions every image"))

    def caption(self, images, params: GenerationParams | None = None) -> list[CaptionResult]:
        params = params if params is not None else GenerationParams()
        self.check_style(params)
        images = check_images(images)
        if not images:
            return []
        t0 = time.perf_counter()
        per_member: list[list[CaptionResult | None]] = []
        member_errors: list[dict[int, str]] = []
        for m in self.members:
            try:
                per_member.append(list(m.caption(images, params)))
                member_errors.append({})
            except EngineUnavailable as error:  # a server down: the other members caption these images
                partial = list(error.partial) if len(error.partial) == len(images) else [None] * len(images)
                per_member.append(partial)
                member_errors.append({i: error.failures.get(i, str(error)) for i in range(len(images))
                                      if partial[i] is None})
        out: list[CaptionResult | None] = []
        failures: dict[int, str] = {}
        pools = []
        for i in range(len(images)):
            pool = []
            for m, results in zip(self.members, per_member, strict=False):
                if results[i] is None:
                    continue
                for c in results[i].candidates:
                    if c.text:
                        pool.append(replace(c, model_id=m.model_id))
            pools.append(pool)
        for i in range(len(images)):
            answered = [(m, res[i]) for m, res in zip(self.members, per_member, strict=False) if res[i] is not None]
            if not answered:
                failures[i] = "; ".join(f"{m.model_id}: {errors[i]}" for m, errors in
                                        zip(self.members, member_errors, strict=False))[:500]
                out.append(None)
                continue
            member_results = [r for _, r in answered]
            pool = pools[i]
            details: dict = {"pick": self.pick, "members": [
                {"model_id": m.model_id, "text": res[i].text, "confidence": res[i].confidence}
                if res[i] is not None else {"model_id": m.model_id, "error": errors[i]}
                for m, res, errors in zip(self.members, per_member, member_errors, strict=False)
            ]}
            if not pool:
                best_i, ranked = None, []
            elif self.pick == "confidence":
                ranked = sorted(pool, key=lambda c: (-c.score, c.text))
                best_i = 0
            else:
                context = [[c.text for c in p] for j, p in enumerate(pools) if j != i]
                cons = consensus_scores([c.text for c in pool], self.sim, context)
                order = sorted(range(len(pool)), key=lambda k: (-cons[k], -pool[k].score, pool[k].text))
                ranked = [pool[k] for k in order]
                details["consensus"] = [round(cons[k], 6) for k in order]
                best_i = 0
            # one entry per distinct text, best first
            seen, alts = set(), []
            for c in ranked:
                if c.text.lower() not in seen:
                    seen.add(c.text.lower())
                    alts.append(c)
            alts = alts[: params.num_alternatives]
            if best_i is None:
                base = member_results[0]
                out.append(CaptionResult(text="", raw_text=base.raw_text, confidence=0.0, candidates=base.candidates,
                                         model_id=self.model_id, model_version=self.model_version,
                                         details=dict(details, flags=["empty"], error=EMPTY_CAPTION_ERROR)))
                continue
            best = alts[0]
            details["chosen_model"] = best.model_id
            chosen = next(r for m, r in answered if m.model_id == best.model_id)
            details["confidence_source"] = (chosen.details or {}).get("confidence_source", "model_scores")
            out.append(CaptionResult(text=best.text, raw_text=best.raw_text, confidence=best.score,
                                     candidates=alts, model_id=self.model_id,
                                     model_version=self.model_version, details=details))
        total_ms = (time.perf_counter() - t0) * 1000 / len(images)
        for i, r in enumerate(out):
            if r is None:
                continue
            r.timings = {
                "preprocess_ms": sum(res[i].timings.get("preprocess_ms", 0.0) for res in per_member if res[i]),
                "generate_ms": sum(res[i].timings.get("generate_ms", 0.0) for res in per_member if res[i]),
                "total_ms": total_ms,
            }
        first = next((r for res in per_member for r in res if r is not None), None)
        done = [r for r in out if r is not None]
        stamp_style(done, params, first.prompt if first is not None else None)
        if failures:
            raise EngineUnavailable(self.model_id, failures, out)
        return done

    def describe(self):
        d = super().describe()
        d["members"] = [m.describe() for m in self.members]
        d["pick"] = self.pick
        return d
