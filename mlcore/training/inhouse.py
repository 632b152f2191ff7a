"""Training loop of the in-house model (ResNet-50 encoder + Transformer decoder)."""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Sequence
from typing import Any

from ..predictors.custom import (
    PAD,
    InHouseConfig,
    WordVocab,
    build_model,
    preprocess_images,
    save_checkpoint,
)
from .datasets import as_records, open_image

__all__ = ["train_inhouse"]

STATE = "trainer_state.pt"


def _load_images(paths: Sequence[str], cache: dict, size: int):
    out = []
    for p in paths:
        if p not in cache:
            cache[p] = preprocess_images([open_image(p, target_size=size)], size)[0]
        out.append(cache[p])
    return out


def _batches(records, batch_size, rng=None):
    idx = list(range(len(records)))
    if rng is not None:
        rng.shuffle(idx)
    for i in range(0, len(idx), batch_size):
        yield [records[j] for j in idx[i : i + batch_size]]


def _loss(model, vocab, config, batch, cache, device):
    import torch

    pix = torch.stack(_load_images([r.image_path for r in batch], cache, config.image_size)).to(device)
    seqs = [vocab.encode(r.caption, config.max_len) for r in batch]
    T = max(len(s) for s in seqs)
    toks = torch.full((len(seqs), T), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        toks[i, : len(s)] = torch.tensor(s)
    toks = toks.to(device)
    logits = model(pix, toks[:, :-1])
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), toks[:, 1:].reshape(-1),
                                             ignore_index=PAD)


def train_inhouse(
    train_records: Sequence,
    val_records: Sequence = (),
    out_dir: str = "models/inhouse",
    epochs: int = 10,
    *,
    config: InHouseConfig | None = None,
    batch_size: int = 16,
    lr: float = 3e-4,
    encoder_lr: float | None = 1e-5,
    weight_decay: float = 0.01,
    min_freq: int = 1,
    device: str | None = None,
    seed: int = 0,
    resume: bool = True,
    progress: bool = True,
    load_pretrained_encoder: bool = True,
    log_every: int = 0,
) -> dict[str, Any]:
    """Train the in-house captioner on (image_path, caption) records.

    Saves the best (lowest validation loss; the last epoch without validation) checkpoint to
    ``out_dir`` (loadable with ``load_captioner("inhouse:" + out_dir)``) and, after every epoch,
    ``out_dir/last/`` with the optimiser state so that a later call resumes where it stopped.
    Returns {"metrics": {...}, "losses": {"train": [...], "val": [...]}, "checkpoint": out_dir}.
    """
    import torch
    from tqdm.auto import tqdm

    from ..hfutils import resolve_device

    dev = resolve_device(device)
    train = as_records(train_records)
    val = as_records(val_records)
    if not train:
        raise ValueError("no training records")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    last_dir = os.path.join(out_dir, "last")
    state_path = os.path.join(last_dir, STATE)
    start_epoch, history, best_val = 0, {"train": [], "val": []}, math.inf
    if resume and os.path.isfile(state_path):
        from ..predictors.custom import load_checkpoint

        model, config, vocab, meta = load_checkpoint(last_dir, dev)
        model.train()
        state = torch.load(state_path, map_location=dev, weights_only=False)
        start_epoch, history, best_val = state["epoch"], state["history"], state["best_val"]
        rng.setstate(state["rng"])
    else:
        config = config or InHouseConfig()
        vocab = WordVocab.build([r.caption for r in train], min_freq=min_freq)
        model = build_model(config, len(vocab), load_pretrained=load_pretrained_encoder).to(dev)
        state = None
    enc_params = list(model.encoder.parameters())
    enc_ids = {id(p) for p in enc_params}
    other = [p for p in model.parameters() if id(p) not in enc_ids]
    groups = [{"params": other, "lr": lr}]
    if encoder_lr and config.pretrained_encoder:
        groups.append({"params": enc_params, "lr": encoder_lr})
    elif not config.pretrained_encoder:
        groups[0]["params"] = list(model.parameters())  # a random encoder must learn at full rate
    else:
        for p in enc_params:
            p.requires_grad_(False)
    opt = torch.optim.AdamW(groups, weight_decay=weight_decay)
    if state is not None and "optimizer" in state:
        opt.load_state_dict(state["optimizer"])
    cache: dict = {}
    t_start = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        model.train()
        total, count = 0.0, 0
        bar = tqdm(list(_batches(train, batch_size, rng)), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress,
                   leave=False)
        for batch in bar:
            loss = _loss(model, vocab, config, batch, cache, dev)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
            bar.set_postfix(loss=f"{total / count:.3f}")
        history["train"].append(total / max(count, 1))
        val_loss = None
        if val:
            model.eval()
            with torch.inference_mode():
                vt, vc = 0.0, 0
                for batch in _batches(val, batch_size):
                    vt += float(_loss(model, vocab, config, batch, cache, dev)) * len(batch)
                    vc += len(batch)
            val_loss = vt / max(vc, 1)
            history["val"].append(val_loss)
        score = val_loss if val_loss is not None else history["train"][-1]
        if score <= best_val or val_loss is None:
            best_val = min(best_val, score)
            save_checkpoint(out_dir, model, config, vocab, {"epoch": epoch + 1, "history": history})
        save_checkpoint(last_dir, model, config, vocab, {"epoch": epoch + 1})
        torch.save({"epoch": epoch + 1, "history": history, "best_val": best_val, "rng": rng.getstate(),
                    "optimizer": opt.state_dict()}, state_path)
    metrics = {
        "epochs": len(history["train"]),
        "final_train_loss": history["train"][-1] if history["train"] else None,
        "best_val_loss": None if best_val == math.inf or not val else best_val,
        "vocab_size": len(vocab),
        "pretrained_encoder": bool(config.pretrained_encoder),
        "seconds": round(time.perf_counter() - t_start, 2),
    }
    with open(os.path.join(out_dir, "training.json"), "w") as fh:
        json.dump({"metrics": metrics, "losses": history}, fh, indent=2)
    return {"metrics": metrics, "losses": history, "checkpoint": out_dir}
