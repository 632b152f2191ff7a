"""Fine-tuning of the transformers captioners (BLIP first; GIT and ViT-GPT2 share the loop)."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from typing import Any

from ..images import processor_target_size
from .datasets import as_records, open_image

__all__ = ["finetune_hf"]


def _open(paths, image_processor=None):
    target = processor_target_size(image_processor)
    return [open_image(p, target_size=target) for p in paths]


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
) -> dict[str, Any]:
    """Fine-tune a transformers captioner (BLIP, GIT, VisionEncoderDecoder) on (image_path, caption)
    records and save it with save_pretrained to ``out_dir`` (then ``load_captioner(out_dir)``).

    Returns {"metrics": {...}, "losses": {"train": [...], "val": [...]}, "out_dir": out_dir}; metrics
    include the validation loss and, when there are validation records, BLEU-4 / CIDEr-D of the
    fine-tuned model's captions (pure-Python scorers, no Java needed).
    """
    import torch
    from tqdm.auto import tqdm

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
    rng = random.Random(seed)
    if freeze_vision:
        vision = getattr(model, "vision_model", None) or getattr(model, "encoder", None)
        if vision is not None:
            for p in vision.parameters():
                p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def batch_loss(batch):
        images = _open([r.image_path for r in batch], image_processor)
        pix = image_processor(images=images, return_tensors="pt")["pixel_values"].to(dev)
        texts = [r.caption for r in batch]
        if arch == "vision-encoder-decoder":
            eos = tokenizer.eos_token or ""
            enc = tokenizer([t + eos for t in texts], return_tensors="pt", padding=True, truncation=True,
                            max_length=max_length)
        else:
            enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
        ids = enc["input_ids"].to(dev)
        mask = enc["attention_mask"].to(dev)
        labels = ids.masked_fill(mask == 0, -100)
        if arch == "blip":
            # BLIP's decoder starts from its [DEC] bos token (the tokenizer gives [CLS])
            ids = ids.clone()
            ids[:, 0] = model.config.text_config.bos_token_id
            labels = labels.clone()
            labels[:, 0] = -100
            out = model(pixel_values=pix, input_ids=ids, attention_mask=mask, labels=labels)
        elif arch == "git":
            out = model(pixel_values=pix, input_ids=ids, attention_mask=mask, labels=labels)
        else:
            out = model(pixel_values=pix, labels=labels)
        return out.loss

    history: dict[str, list[float]] = {"train": [], "val": []}
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = list(range(len(train)))
        rng.shuffle(order)
        total, count = 0.0, 0
        bar = tqdm(range(0, len(order), batch_size), desc=f"finetune {epoch + 1}/{epochs}", disable=not progress,
                   leave=False)
        for i in bar:
            batch = [train[j] for j in order[i : i + batch_size]]
            loss = batch_loss(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
            bar.set_postfix(loss=f"{total / count:.3f}")
        history["train"].append(total / max(count, 1))
        if val:
            model.eval()
            with torch.inference_mode():
                vt = sum(float(batch_loss(val[i : i + batch_size])) * len(val[i : i + batch_size])
                         for i in range(0, len(val), batch_size))
            history["val"].append(vt / len(val))
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
