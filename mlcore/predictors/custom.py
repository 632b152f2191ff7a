"""The in-house captioner: a ResNet-50 encoder (transformers ``ResNetModel``; ImageNet weights from
microsoft/resnet-50 when available, random otherwise) + a Transformer decoder (6 layers, 8 heads
by default) over the encoder's spatial features, with its own word vocabulary.

A checkpoint is a folder: ``mlcore_inhouse.json`` (config + vocabulary) and ``model.safetensors``.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ModelLoadError
from ..hfutils import folder_fingerprint, resolve_device, resolve_dtype_with_reason
from ..params import GenerationParams
from .base import Captioner, RawCandidate

__all__ = ["InHouseConfig", "WordVocab", "InHouseCaptioner", "MARKER", "tiny_inhouse_config"]

MARKER = "mlcore_inhouse.json"
WEIGHTS = "model.safetensors"
PAD, BOS, EOS, UNK = 0, 1, 2, 3
_SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,!?]")


@dataclass
class InHouseConfig:
    d_model: int = 512
    num_layers: int = 6
    num_heads: int = 8
    ff_dim: int = 2048
    dropout: float = 0.1
    max_len: int = 48
    image_size: int = 224
    encoder: str = "microsoft/resnet-50"  # hub id / folder for ImageNet weights, tried offline-safe
    # used when the pretrained encoder is unavailable (or for tiny test models):
    encoder_config: dict[str, Any] = field(default_factory=dict)
    pretrained_encoder: bool = False  # set when ImageNet weights were actually loaded

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tiny_inhouse_config(**overrides) -> InHouseConfig:
    """A small config for tests and smoke runs (random ResNet encoder, 2-layer decoder)."""
    cfg = InHouseConfig(
        d_model=64, num_layers=2, num_heads=4, ff_dim=128, dropout=0.0, max_len=16, image_size=64,
        encoder="", encoder_config=dict(embedding_size=16, hidden_sizes=[16, 32, 64, 64], depths=[1, 1, 1, 1],
                                        layer_type="basic"),
    )
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


class WordVocab:
    """A word-level vocabulary built from training captions."""

    def __init__(self, itos: Sequence[str]):
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return _TOKEN_RE.findall((text or "").lower())

    @classmethod
    def build(cls, captions: Iterable[str], min_freq: int = 1, max_size: int | None = 10000) -> WordVocab:
        counts = Counter(t for c in captions for t in cls.tokenize(c))
        words = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
        if max_size:
            words = words[: max_size - len(_SPECIALS)]
        return cls(_SPECIALS + words)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, max_len: int) -> list[int]:
        ids = [self.stoi.get(t, UNK) for t in self.tokenize(text)][: max_len - 2]
        return [BOS] + ids + [EOS]

    def decode(self, ids: Iterable[int]) -> str:
        words = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            words.append(self.itos[i] if 0 <= i < len(self.itos) and i != UNK else "")
        text = " ".join(w for w in words if w)
        return re.sub(r"\s+([.,!?])", r"\1", text)


def _torch():
    import torch

    return torch


def build_model(config: InHouseConfig, vocab_size: int, load_pretrained: bool = True):
    """The nn.Module; tries ImageNet ResNet-50 weights (local cache / hub unless offline)."""
    torch = _torch()
    from torch import nn
    from transformers import ResNetConfig, ResNetModel

    from ..hfutils import hub_kwargs, is_offline, quiet_transformers

    encoder = None
    if load_pretrained and config.encoder:
        # the local HF cache / a folder first, then the hub unless offline; random weights otherwise
        for local_only in (True, False):
            if not local_only and (is_offline() or os.path.isdir(config.encoder)):
                break
            try:
                with quiet_transformers():
                    encoder = ResNetModel.from_pretrained(config.encoder, **hub_kwargs(local_files_only=local_only))
                config.pretrained_encoder = True
                break
            except Exception:  # noqa: BLE001
                encoder = None
    if encoder is None:
        rc = ResNetConfig(**config.encoder_config) if config.encoder_config else ResNetConfig()
        encoder = ResNetModel(rc)
        config.encoder_config = config.encoder_config or {}

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            feat = encoder.config.hidden_sizes[-1]
            self.proj = nn.Linear(feat, config.d_model)
            grid = 64  # enough positions for up to 8x8 feature maps; interpolated beyond
            self.img_pos = nn.Parameter(torch.zeros(1, grid, config.d_model))
            self.tok = nn.Embedding(vocab_size, config.d_model, padding_idx=PAD)
            self.pos = nn.Embedding(config.max_len + 2, config.d_model)
            layer = nn.TransformerDecoderLayer(config.d_model, config.num_heads, config.ff_dim, config.dropout,
                                               batch_first=True, norm_first=True)
            self.decoder = nn.TransformerDecoder(layer, config.num_layers)
            self.norm = nn.LayerNorm(config.d_model)
            self.out = nn.Linear(config.d_model, vocab_size, bias=False)
            self.out.weight = self.tok.weight  # tied
            nn.init.normal_(self.tok.weight, std=config.d_model ** -0.5)
            nn.init.normal_(self.img_pos, std=0.02)

        def encode(self, pixel_values):
            fmap = self.encoder(pixel_values=pixel_values).last_hidden_state  # (B, C, H, W)
            mem = fmap.flatten(2).transpose(1, 2)  # (B, H*W, C)
            mem = self.proj(mem)
            n = mem.shape[1]
            pos = self.img_pos
            if n != pos.shape[1]:
                pos = nn.functional.interpolate(pos.transpose(1, 2), size=n, mode="linear",
                                                align_corners=False).transpose(1, 2)
            return mem + pos

        def decode(self, tokens, memory):
            t = tokens.shape[1]
            x = self.tok(tokens) * math.sqrt(config.d_model) + self.pos(torch.arange(t, device=tokens.device))
            mask = torch.triu(torch.ones((t, t), dtype=torch.bool, device=tokens.device), diagonal=1)
            h = self.decoder(x, memory, tgt_mask=mask, tgt_key_padding_mask=tokens.eq(PAD), tgt_is_causal=True)
            return self.out(self.norm(h))

        def forward(self, pixel_values, tokens):
            return self.decode(tokens, self.encode(pixel_values))

    return Model()


def preprocess_images(images: Sequence[Any], size: int):
    """Resize to size x size, scale to [0, 1], ImageNet mean/std: a (B, 3, size, size) float tensor."""
    import numpy as np

    from ..images import to_rgb

    torch = _torch()
    mean = np.array([0.485, 0.456, 0.406], dtype="float32")
    std = np.array([0.229, 0.224, 0.225], dtype="float32")
    arrs = []
    for im in images:
        im = (im if im.mode == "RGB" else to_rgb(im)).resize((size, size), resample=3)  # bicubic
        a = (np.asarray(im, dtype="float32") / 255.0 - mean) / std
        arrs.append(a.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrs))


# -- decoding ---------------------------------------------------------------------------------


def _process_logits(logp, seqs, step: int, params: GenerationParams, vocab_size: int):
    """Apply repetition penalty, no-repeat n-grams and min length (at least one token) to log-probs
    (B*K, V); <pad>, <bos> and <unk> are never generated (<unk> is not a word: decoding drops it)."""
    torch = _torch()
    out = logp.clone()
    if params.repetition_penalty != 1.0 and seqs.shape[1] > 1:
        prev = seqs[:, 1:]
        gathered = out.gather(1, prev)
        out.scatter_(1, prev, gathered * params.repetition_penalty)  # log-probs are <= 0
    n = params.no_repeat_ngram_size
    if n and seqs.shape[1] >= n:
        rows = seqs.tolist()
        for r, row in enumerate(rows):
            prefix = tuple(row[len(row) - n + 1 :]) if n > 1 else ()
            banned = {row[i + n - 1] for i in range(len(row) - n + 1) if tuple(row[i : i + n - 1]) == prefix}
            if banned:
                out[r, list(banned)] = float("-inf")
    if step < max(params.min_length, 1):
        out[:, EOS] = float("-inf")
    out[:, PAD] = float("-inf")
    out[:, BOS] = float("-inf")
    out[:, UNK] = float("-inf")
    return torch.log_softmax(out, dim=-1)


def decode_batch(model, memory, params: GenerationParams, vocab_size: int, max_len: int):
    """Beam search (greedy = 1 beam) or sampling over a batch. Returns, per image, a list of
    (token ids, mean raw log-prob, n tokens) best first."""
    torch = _torch()
    B = memory.shape[0]
    steps = min(params.max_length, max_len)
    if params.do_sample:
        K = params.num_alternatives
        mem = memory.repeat_interleave(K, dim=0)
        seqs = torch.full((B * K, 1), BOS, dtype=torch.long, device=memory.device)
        raw_sum = torch.zeros(B * K, device=memory.device)
        length = torch.zeros(B * K, device=memory.device)
        done = torch.zeros(B * K, dtype=torch.bool, device=memory.device)
        for step in range(steps):
            logits = model.decode(seqs, mem)[:, -1].float()
            raw = torch.log_softmax(logits, -1)
            proc = _process_logits(raw, seqs, step, params, vocab_size) / params.temperature
            probs = torch.softmax(proc, -1)
            if params.top_p < 1.0:
                sp, si = probs.sort(-1, descending=True)
                keep = sp.cumsum(-1) - sp < params.top_p
                sp = sp * keep
                probs = torch.zeros_like(probs).scatter(1, si, sp)
            nxt = torch.multinomial(probs / probs.sum(-1, keepdim=True), 1).squeeze(1)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            raw_sum += torch.where(done, torch.zeros_like(raw_sum), raw.gather(1, nxt[:, None]).squeeze(1))
            length += (~done).float()
            seqs = torch.cat([seqs, nxt[:, None]], 1)
            done |= nxt.eq(EOS)
            if bool(done.all()):
                break
        out = []
        for b in range(B):
            items = []
            for k in range(K):
                i = b * K + k
                items.append((seqs[i, 1:].tolist(), float(raw_sum[i] / max(length[i], 1)), int(length[i])))
            out.append(sorted(items, key=lambda x: -x[1]))
        return out

    K = params.num_beams
    mem = memory.repeat_interleave(K, dim=0)
    dev = memory.device
    seqs = torch.full((B * K, 1), BOS, dtype=torch.long, device=dev)
    beam_scores = torch.zeros(B, K, device=dev)
    beam_scores[:, 1:] = float("-inf")
    raw_sum = torch.zeros(B * K, device=dev)
    length = torch.zeros(B * K, device=dev)
    done = torch.zeros(B * K, dtype=torch.bool, device=dev)
    for step in range(steps):
        logits = model.decode(seqs, mem)[:, -1].float()
        raw = torch.log_softmax(logits, -1)
        proc = _process_logits(raw, seqs, step, params, vocab_size)
        # finished beams can only continue with PAD at no cost
        proc = torch.where(done[:, None], torch.full_like(proc, float("-inf")), proc)
        proc[:, PAD] = torch.where(done, torch.zeros_like(proc[:, PAD]), proc[:, PAD])
        V = proc.shape[1]
        cand = (beam_scores.view(-1, 1) + proc).view(B, K * V)
        top, idx = cand.topk(K, dim=1)
        beam_idx = idx // V
        tok = idx % V
        flat = (torch.arange(B, device=dev)[:, None] * K + beam_idx).view(-1)
        seqs = torch.cat([seqs[flat], tok.view(-1, 1)], 1)
        prev_done = done[flat]
        step_raw = raw[flat].gather(1, tok.view(-1, 1)).squeeze(1)
        raw_sum = raw_sum[flat] + torch.where(prev_done, torch.zeros_like(step_raw), step_raw)
        length = length[flat] + (~prev_done).float()
        done = prev_done | tok.view(-1).eq(EOS)
        beam_scores = top
        if bool(done.all()):
            break
    out = []
    lp = params.length_penalty
    for b in range(B):
        items = []
        for k in range(K):
            i = b * K + k
            L = max(float(length[i]), 1.0)
            rank = float(beam_scores[b, k]) / (L**lp if K > 1 else 1.0)
            items.append((rank, seqs[i, 1:].tolist(), float(raw_sum[i]) / L, int(length[i])))
        items.sort(key=lambda x: -x[0])
        out.append([(s, m, n) for _, s, m, n in items])
    return out


# -- save / load ------------------------------------------------------------------------------


def save_checkpoint(folder: str, model, config: InHouseConfig, vocab: WordVocab, extra: dict | None = None) -> str:
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k != "out.weight"}
    save_file(state, os.path.join(folder, WEIGHTS))
    meta = {"format": "mlcore-inhouse/1", "config": config.to_dict(), "vocab": vocab.itos, **(extra or {})}
    tmp = os.path.join(folder, MARKER + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(meta, fh)
    os.replace(tmp, os.path.join(folder, MARKER))
    return folder


def load_checkpoint(folder: str, device: str = "cpu"):
    from safetensors.torch import load_file

    with open(os.path.join(folder, MARKER), encoding="utf-8") as fh:
        meta = json.load(fh)
    config = InHouseConfig(**meta["config"])
    vocab = WordVocab(meta["vocab"])
    model = build_model(config, len(vocab), load_pretrained=False)
    state = load_file(os.path.join(folder, WEIGHTS))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if m != "out.weight"]:
        raise ModelLoadError(f"checkpoint {folder!r} does not match its config (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]})", f"inhouse:{folder}")
    model.to(device).eval()
    return model, config, vocab, meta


class InHouseCaptioner(Captioner):
    kind = "inhouse"
    family = "inhouse"

    def __init__(self, model, config: InHouseConfig, vocab: WordVocab, *, model_id: str, model_version: str,
                 device: str = "cpu", dtype: str = "float32", **kwargs):
        self.model = model
        self.config = config
        self.vocab = vocab
        self.model_id = model_id
        self.model_version = model_version
        self.device = device
        self.dtype = dtype
        super().__init__(**kwargs)

    @classmethod
    def from_checkpoint(cls, folder: str, device: str | None = None, dtype: str | None = None, **kwargs):
        dev = resolve_device(device)
        dt, dt_reason = resolve_dtype_with_reason(dtype, dev)
        try:
            model, config, vocab, _ = load_checkpoint(folder, dev)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"could not load the in-house checkpoint {folder!r}: {type(exc).__name__}: {exc}",
                                 f"inhouse:{folder}") from exc
        if dt == "int8":
            from .hf import quantize_dynamic_int8

            model = quantize_dynamic_int8(model)
        elif dt != "float32":
            from ..hfutils import torch_dtype

            model.to(torch_dtype(dt))
        captioner = cls(model, config, vocab, model_id=os.path.abspath(folder),
                        model_version=folder_fingerprint(folder), device=dev, dtype=dt, **kwargs)
        captioner.dtype_reason = dt_reason
        return captioner

    def generate_raw(self, images, params: GenerationParams):
        torch = _torch()
        from ..hfutils import torch_dtype

        t0 = time.perf_counter()
        pix = preprocess_images(images, self.config.image_size).to(self.device, torch_dtype(self.dtype))
        t1 = time.perf_counter()
        with torch.inference_mode():
            memory = self.model.encode(pix)
            decoded = decode_batch(self.model, memory, params, len(self.vocab), self.config.max_len)
        t2 = time.perf_counter()
        raw = [[RawCandidate(self.vocab.decode(ids), mean, num_tokens=n) for ids, mean, n in items]
               for items in decoded]
        return raw, {"preprocess_ms": (t1 - t0) * 1000, "generate_ms": (t2 - t1) * 1000}
