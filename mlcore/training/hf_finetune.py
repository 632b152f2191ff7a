"""Fine-tuning of the transformers captioners (BLIP, GIT, ViT-GPT2) with transformers' ``Trainer``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from ..images import processor_target_size
from .datasets import as_records, open_image

__all__ = ["finetune_hf"]


def _open(paths, image_processor=None):
    target = processor_target_size(image_processor)
    return [open_image(p, target_size=target) for p in paths]


class _Collator:
    """(image_path, caption) records -> one training batch of the architecture's inputs (images decoded at
    the processor's input size; padding masked out of the labels)."""

    def __init__(self, model, arch: str, image_processor, tokenizer, max_length: int):
        self.arch = arch
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.bos = model.config.text_config.bos_token_id if arch == "blip" else None

    def __call__(self, batch) -> dict:
        images = _open([r.image_path for r in batch], self.image_processor)
        pix = self.image_processor(images=images, return_tensors="pt")["pixel_values"]
        texts = [r.caption for r in batch]
        if self.arch == "vision-encoder-decoder":
            eos = self.tokenizer.eos_token or ""
            texts = [t + eos for t in texts]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        labels = ids.masked_fill(mask == 0, -100)
        if self.arch == "vision-encoder-decoder":
            return {"pixel_values": pix, "labels": labels}
        if self.arch == "blip":
            # BLIP's decoder starts from its [DEC] bos token (the tokenizer gives [CLS])
            ids = ids.clone()
            ids[:, 0] = self.bos
            labels = labels.clone()
            labels[:, 0] = -100
        return {"pixel_values": pix, "input_ids": ids, "attention_mask": mask, "labels": labels}


def finetune_hf(
    base_spec: str,
    train_records: Sequence,
    val_records: Sequence = (),
    out_dir: str = "models/finetuned",
    epochs: int = 1,
    *,
    batch_size: int = 8,
    lr: float = 5e-5,
    weight_decay: float = 0.01,
    max_length: int = 40,
    device: str | None = None,
    freeze_vision: bool = False,
    seed: int = 0,
    progress: bool = True,
    eval_params=None,
    grad_accum: int = 1,
    bf16: bool = False,
    checkpoints: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Fine-tune a transformers captioner (BLIP, GIT, VisionEncoderDecoder) on (image_path, caption)
    records with transformers' ``Trainer`` and save it with save_pretrained to ``out_dir`` (then
    ``load_captioner(out_dir)``).

    The Trainer runs the loop: AdamW at a constant learning rate ``lr``, gradients clipped to norm 1,
    ``grad_accum`` batches per optimiser step, ``bf16`` mixed precision (where the device supports it),
    a validation loss after every epoch when there are validation records. ``checkpoints``: a
    checkpoint per epoch in ``out_dir/checkpoints`` (the last two kept); ``resume``: continue from the
    latest of them.

    Returns {"metrics": {...}, "losses": {"train": [...], "val": [...]}, "out_dir": out_dir} (one loss per
    epoch); metrics include the validation loss and, when there are validation records, BLEU-4 /
    CIDEr-D of the fine-tuned model's captions (mlcore.metrics, no Java needed).
    """
    import torch
    from transformers import Trainer, TrainingArguments

    from ..errors import ModelLoadError
    from ..hfutils import resolve_device
    from ..metrics import cider_d, sentence_bleu
    from ..params import GenerationParams
    from ..predictors.hf import HFCaptioner, load_hf_parts
    from ..registry import resolve_spec

    ms = resolve_spec(base_spec)
    if ms.kind != "hf":
        raise ModelLoadError(f"finetune_hf needs a transformers model, got a {ms.kind} spec", base_spec)
    dev = resolve_device(device)
    model, processor, image_processor, tokenizer, arch, _ = load_hf_parts(ms.path or ms.model_id, ms.name,
                                                                          "float32", dev)
    if arch == "blip2":
        raise NotImplementedError("fine-tuning BLIP-2 (a 2.7B LM) is not supported here; use BLIP, GIT or ViT-GPT2")
    train = as_records(train_records)
    val = as_records(val_records)
    if not train:
        raise ValueError("no training records")
    torch.manual_seed(seed)
    if freeze_vision:
        vision = getattr(model, "vision_model", None) or getattr(model, "encoder", None)
        if vision is not None:
            for p in vision.parameters():
                p.requires_grad_(False)

    args = TrainingArguments(
        output_dir=os.path.join(out_dir, "checkpoints"),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        gradient_accumulation_steps=max(1, int(grad_accum)),
        learning_rate=lr,
        lr_scheduler_type="constant",
        weight_decay=weight_decay,
        max_grad_norm=1.0,
        bf16=bool(bf16),
        use_cpu=str(dev) == "cpu",
        seed=seed,
        logging_strategy="epoch",
        eval_strategy="epoch" if val else "no",
        save_strategy="epoch" if checkpoints else "no",
        save_total_limit=2 if checkpoints else None,
        prediction_loss_only=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        report_to=[],
        disable_tqdm=not progress,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val or None,
                      data_collator=_Collator(model, arch, image_processor, tokenizer, max_length))
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if resume else None)
    history: dict[str, list[float]] = {
        "train": [float(e["loss"]) for e in trainer.state.log_history if "loss" in e],
        "val": [float(e["eval_loss"]) for e in trainer.state.log_history if "eval_loss" in e],
    }
    model = trainer.model
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    if processor is not None:
        processor.save_pretrained(out_dir)
    else:
        image_processor.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    metrics: dict[str, Any] = {
        "base": ms.model_id,
        "arch": arch,
        "epochs": epochs,
        "train_records": len(train),
        "val_records": len(val),
        "final_train_loss": history["train"][-1] if history["train"] else None,
        "val_loss": history["val"][-1] if history["val"] else None,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if val:
        cap = HFCaptioner.from_pretrained(out_dir, device=dev, dtype="float32")
        refs: dict[str, list[str]] = {}
        for r in val:
            refs.setdefault(r.image_path, []).append(r.caption)
        paths = list(refs)
        p = eval_params or GenerationParams(num_beams=3, max_length=min(max_length, 40), min_length=1)
        hyps = [c.text for c in cap.caption(_open(paths, cap.image_processor), p)]
        metrics["val_bleu4"] = sum(sentence_bleu(h, refs[pth]) for h, pth in zip(hyps, paths, strict=False)) / len(paths)
        metrics["val_cider_d"] = (sum(cider_d(hyps, [refs[pth] for pth in paths])) / len(paths)
                                  if len(paths) > 1 else None)
    with open(os.path.join(out_dir, "finetune.json"), "w") as fh:
        json.dump({"metrics": metrics, "losses": history}, fh, indent=2)
    return {"metrics": metrics, "losses": history, "out_dir": out_dir}
