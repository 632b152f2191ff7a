"""A fine-tuning run's work, in a worker process (or `manage.py finetune`), never in the web
process: the feedback export, training through mlcore.training, BLEU-4 and CIDEr on the
validation split before and after.
"""

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage

from captions.inference import stored_image_load
from feedback.models import TrainingRun
from feedback.selectors import TrainingExample, training_examples
from mlcore.images import captioner_target_size

logger = logging.getLogger(__name__)


class FinetuneError(Exception):
    """The run cannot go ahead; the message says why and what to do."""


@dataclass
class FinetuneOutcome:
    train_size: int
    val_size: int
    losses: dict[str, list[float]]
    metrics_before: dict
    metrics_after: dict
    model_id: str
    log: str


def _records(examples: list[TrainingExample], scratch: str) -> list[tuple[str, str]]:
    """(image path, caption) pairs for mlcore.training; a storage without local files (S3 and
    the like) is copied into the scratch folder first."""
    pairs = []
    for example in examples:
        path = example.path
        if not os.path.isfile(path):
            path = os.path.join(scratch, example.sha256 + os.path.splitext(example.file)[1])
            if not os.path.exists(path):
                with default_storage.open(example.file, "rb") as source, open(path, "wb") as target:
                    shutil.copyfileobj(source, target)
        pairs.append((path, example.caption))
    return pairs


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 4) for v in values]


def _by_image(examples: list[TrainingExample]) -> dict[int, list[TrainingExample]]:
    grouped: dict[int, list[TrainingExample]] = {}
    for example in examples:
        grouped.setdefault(example.image_id, []).append(example)
    return grouped


def evaluate(spec: str, validation: list[TrainingExample]) -> dict:
    """BLEU-4 and CIDEr of the model's captions of the validation images against their
    human-approved captions (all of an image's captions are its references)."""
    import mlcore
    from mlcore.metrics import score_captions

    grouped = _by_image(validation)
    if not grouped:
        return {}
    captioner = mlcore.load_captioner(spec, device=settings.CAPTION_DEVICE, dtype=settings.CAPTION_DTYPE)
    ids = list(grouped)
    target = captioner_target_size(captioner)  # decoded as the worker and mlcore.evaluate do
    images = [stored_image_load(grouped[i][0].file, target_size=target) for i in ids]
    results = captioner.caption(images, mlcore.GenerationParams())
    hypotheses = {i: r.text for i, r in zip(ids, results, strict=True)}
    references = {i: [e.caption for e in grouped[i]] for i in ids}
    scored = score_captions(references, hypotheses, meteor=False)
    return {
        "bleu4": round(scored["scores"].get("Bleu_4", 0.0), 6),
        "cider": round(scored["scores"].get("CIDEr", 0.0), 6),
        "images": len(ids),
        "model_id": captioner.model_id,
    }


def finetune(*, run: TrainingRun) -> FinetuneOutcome:
    from mlcore import training as mlcore_training

    lines: list[str] = []

    def log(message: str) -> None:
        logger.info("Training run %s: %s", run.pk, message)
        lines.append(f"{time.strftime('%H:%M:%S')} {message}")

    params = dict(run.params)
    examples = training_examples(
        min_rating=int(params.get("min_rating", 4)), val_fraction=float(params.get("val_fraction", 0.2))
    )
    train = [e for e in examples if e.split == "train"]
    validation = [e for e in examples if e.split == "val"]
    if not train:
        raise FinetuneError(
            "There is nothing to learn from yet: no image has a human, approved or well-rated caption "
            "in the training split. Review some captions first."
        )
    log(f"{len(train)} training captions of {len(_by_image(train))} images, "
        f"{len(validation)} validation captions of {len(_by_image(validation))} images")

    metrics_before = evaluate(run.base_model, validation)
    log(f"before: {metrics_before or 'no validation images'}")

    options = {"batch_size": params.get("batch_size"), "lr": params.get("learning_rate"), "seed": params.get("seed")}
    with tempfile.TemporaryDirectory(prefix="finetune-") as scratch:
        result = mlcore_training.finetune_hf(
            run.base_model,
            _records(train, scratch),
            _records(validation, scratch),
            run.output_dir,
            int(params["epochs"]),
            device=settings.CAPTION_DEVICE,
            progress=False,
            **{k: v for k, v in options.items() if v is not None},
        )
    losses = {"train": [float(x) for x in result["losses"]["train"]], "val": [float(x) for x in result["losses"]["val"]]}
    log(f"training loss per epoch: {_rounded(losses['train'])}; validation loss: {_rounded(losses['val'])}")

    metrics_after = evaluate(run.output_dir, validation)
    if result["metrics"].get("val_loss") is not None:
        metrics_after["val_loss"] = round(float(result["metrics"]["val_loss"]), 6)
    log(f"after: {metrics_after or 'no validation images'}")

    import mlcore

    model_id = mlcore.resolve_spec(run.output_dir).model_id
    return FinetuneOutcome(
        train_size=len(train),
        val_size=len(validation),
        losses=losses,
        metrics_before=metrics_before,
        metrics_after=metrics_after,
        model_id=model_id,
        log="\n".join(lines),
    )
