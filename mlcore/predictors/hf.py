"""Any transformers image-to-text model: BLIP, BLIP-2, GIT, VisionEncoderDecoder (ViT + GPT-2).

Loaded with the real classes' ``from_pretrained``; one batched ``generate`` per chunk with
``output_logits=True, return_dict_in_generate=True``; the sequence score comes from
``model.compute_transition_scores`` on those logits (no second forward pass).
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..catalog import model_types
from ..errors import ModelLoadError
from ..hfutils import (
    folder_fingerprint,
    hub_kwargs,
    is_offline,
    non_word_token_ids,
    quiet_transformers,
    resolve_device,
    resolve_dtype,
    resolve_dtype_with_reason,
    snapshot_commit,
    torch_dtype,
)
from ..params import GenerationParams
from .base import Captioner, RawCandidate

__all__ = ["HFCaptioner", "ITMScorer", "ARCHITECTURES", "load_hf_parts", "generate_scored", "inputs_to"]

# config.model_type -> (model class name in transformers, family name): the image-to-text families of
# the model catalogue (mlcore.catalog)
ARCHITECTURES: dict[str, tuple[str, str]] = {
    model_type: (family.model_types[model_type], family.name) for model_type, family in model_types("hf").items()
}


def _from_pretrained(loader, source: str, spec: str, what: str, **kw):
    """Local cache first (fast, no network); then the hub unless offline. ModelLoadError on failure."""
    try:
        return loader(source, **hub_kwargs(local_files_only=True), **kw)
    except Exception as first:  # noqa: BLE001
        if os.path.isdir(source) or is_offline():
            raise ModelLoadError(_explain(first, source, what), spec) from first
    try:
        return loader(source, **hub_kwargs(), **kw)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(_explain(exc, source, what), spec) from exc


def _explain(exc: Exception, source: str, what: str) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if os.path.isdir(source):
        where = f"the folder {source!r} (is it complete? it needs config.json, the weights and the processor files)"
    elif is_offline():
        where = f"{source!r}: HF_HUB_OFFLINE is set and it is not in the local Hugging Face cache"
    else:
        where = f"{source!r} (not in the local cache and the hub could not be reached, or no such model)"
    return f"could not load the {what} of {where}: {type(exc).__name__}: {msg[:300]}"


def load_hf_parts(source: str, spec: str | None = None, dtype: str = "float32", device: str = "cpu"):
    """Load (model, processor-ish, arch, config) for ``source`` (hub id or folder)."""
    import torch  # noqa: F401
    import transformers
    from transformers import AutoConfig

    spec = spec or source
    with quiet_transformers():
        config = _from_pretrained(AutoConfig.from_pretrained, source, spec, "config")
        model_type = getattr(config, "model_type", None)
        if model_type not in ARCHITECTURES:
            raise ModelLoadError(
                f"{source!r} is a {model_type!r} model; supported image-to-text architectures: "
                f"{', '.join(sorted(ARCHITECTURES))}",
                spec,
            )
        cls_name, arch = ARCHITECTURES[model_type]
        model_cls = getattr(transformers, cls_name)
        load_dtype = torch_dtype(dtype)
        model = _from_pretrained(model_cls.from_pretrained, source, spec, "weights", dtype=load_dtype)
        if arch == "vision-encoder-decoder":
            from transformers import AutoImageProcessor, AutoTokenizer

            image_processor = _from_pretrained(AutoImageProcessor.from_pretrained, source, spec, "image processor")
            tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, source, spec, "tokenizer")
            processor = None
        else:
            from transformers import AutoProcessor

            processor = _from_pretrained(AutoProcessor.from_pretrained, source, spec, "processor")
            image_processor = getattr(processor, "image_processor", None)
            tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None or image_processor is None:
            raise ModelLoadError(f"{source!r} has no tokenizer or image processor", spec)
    model.eval()
    if dtype == "int8":
        model = quantize_dynamic_int8(model)
    else:
        model.to(device)
    return model, processor, image_processor, tokenizer, arch, config


def quantize_dynamic_int8(model):
    """CPU dynamic int8 quantisation of the nn.Linear layers (weights int8, activations fp32)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def model_version_of(source: str, model: Any = None) -> str:
    """Hub commit hash when the files came from the HF cache, else a fingerprint of the folder."""
    if os.path.isdir(source):
        commit = snapshot_commit(source)
        return commit[:12] if commit else folder_fingerprint(source)
    name_or_path = getattr(getattr(model, "config", None), "_name_or_path", "") or ""
    # transformers records the resolved snapshot dir in _commit_hash for hub loads.
    commit = getattr(getattr(model, "config", None), "_commit_hash", None)
    if commit:
        return str(commit)[:12]
    if name_or_path and os.path.isdir(name_or_path):
        return model_version_of(name_or_path)
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(source, local_files_only=True, **({"cache_dir": hub_kwargs()["cache_dir"]} if "cache_dir" in hub_kwargs() else {}))
        commit = snapshot_commit(path)
        if commit:
            return commit[:12]
    except Exception:  # noqa: BLE001
        pass
    return "unknown"


class HFCaptioner(Captioner):
    """A transformers image-to-text model behind the Captioner interface."""

    kind = "hf"
    #: the vision encoder's engine ("torch" or "onnx-int8", see onnx_vision) and why; "" when not chosen
    vision_engine: str = ""
    vision_engine_reason: str = ""
    #: BLIP's conditional-captioning prefix (stripped from the output); "" turns it off
    blip_prompt: str = "a picture of "

    def __init__(
        self,
        model,
        image_processor,
        tokenizer,
        *,
        arch: str,
        model_id: str,
        model_version: str,
        device: str,
        dtype: str,
        processor=None,
        **kwargs,
    ):
        self.model = model
        self.processor = processor
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.arch = arch
        self.family = arch  # the catalogue family: what it can write
        self.model_id = model_id
        self.model_version = model_version
        self.device = device
        self.dtype = dtype
        super().__init__(**kwargs)
        self._eos_ids = self._find_eos_ids()
        #: vocabulary ids never generated (markers such as [unused0], [UNK], <unk>, <image>):
        #: passed to every generate call as ``suppress_tokens`` (their logits become -inf)
        self.suppressed_token_ids = non_word_token_ids(self.tokenizer, keep=self._needed_token_ids())

    @classmethod
    def from_pretrained(
        cls, source: str, *, spec: str | None = None, device: str | None = None, dtype: str | None = None,
        vision_engine: str | None = None, **kwargs
    ) -> HFCaptioner:
        """Load ``source``; ``vision_engine`` (auto, torch, onnx-int8; default MLCORE_VISION_ENGINE)
        picks BLIP's vision encoder engine (onnx_vision)."""
        dev = resolve_device(device)
        dt, dt_reason = resolve_dtype_with_reason(dtype, dev)
        model, processor, image_processor, tokenizer, arch, _ = load_hf_parts(source, spec, dt, dev)
        model_id = os.path.abspath(source) if os.path.isdir(source) else source
        captioner = cls(
            model,
            image_processor,
            tokenizer,
            processor=processor,
            arch=arch,
            model_id=model_id,
            model_version=model_version_of(source, model),
            device=dev,
            dtype=dt,
            **kwargs,
        )
        captioner.dtype_reason = dt_reason
        if arch == "blip":
            from .onnx_vision import attach

            attach(captioner, vision_engine)  # the int8 ONNX Runtime vision encoder where it pays
        return captioner

    def info(self) -> dict[str, Any]:
        """Base info plus the vision encoder's engine and why it was chosen."""
        out = super().info()
        if self.vision_engine:
            out.update(vision_engine=self.vision_engine, vision_engine_reason=self.vision_engine_reason)
        return out

    # -- internals ------------------------------------------------------------------------------

    def _find_eos_ids(self) -> set[int]:
        ids: set[int] = set()
        cfgs = [getattr(self.model, "generation_config", None), getattr(self.model, "config", None)]
        text_cfg = getattr(self.model.config, "text_config", None)
        if self.arch == "blip" and text_cfg is not None:
            # BLIP's generate() ends captions at [SEP], not at the config's eos token.
            ids.add(int(text_cfg.sep_token_id))
            return ids
        cfgs.append(text_cfg)
        cfgs.append(getattr(self.model.config, "decoder", None))
        for cfg in cfgs:
            eos = getattr(cfg, "eos_token_id", None) if cfg is not None else None
            if eos is None:
                continue
            ids.update(int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]))
        if self.arch == "git" and getattr(self.tokenizer, "sep_token_id", None) is not None:
            ids.add(int(self.tokenizer.sep_token_id))
        return ids

    def _needed_token_ids(self) -> set[int]:
        """The special ids generation needs: end of sequence (it must be able to stop), bos, pad."""
        ids = set(self._eos_ids)
        cfgs = [getattr(self.model, "generation_config", None), getattr(self.model, "config", None),
                getattr(getattr(self.model, "config", None), "text_config", None), self.tokenizer]
        for cfg in cfgs:
            for attr in ("bos_token_id", "pad_token_id", "decoder_start_token_id"):
                value = getattr(cfg, attr, None) if cfg is not None else None
                if isinstance(value, int):
                    ids.add(value)
        return ids

    def _preprocess(self, images: list) -> dict:
        # Every supported architecture captions from pixel_values alone (BLIP-2 inserts its image
        # tokens itself when no prompt is given).
        inputs = {"pixel_values": self.image_processor(images=images, return_tensors="pt")["pixel_values"]}
        if self.arch == "blip" and self.blip_prompt:
            # BLIP's captioning checkpoints were fine-tuned with the prefix "a picture of " (Li et al.
            # 2022, BLIP repo configs/caption_coco.yaml: prompt). Conditioning on it gives the captions
            # the model was trained to write; only the tokens after it are decoded and scored.
            enc = self.tokenizer([self.blip_prompt] * len(images), return_tensors="pt")
            inputs["input_ids"] = enc["input_ids"]
            inputs["attention_mask"] = enc["attention_mask"]
        return inputs_to(inputs, self.device, self.dtype)

    def caption_prompt(self, params: GenerationParams) -> str | None:
        return self.blip_prompt if self.arch == "blip" and self.blip_prompt else None

    def generation_kwargs(self, params: GenerationParams) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "max_new_tokens": params.max_length,
            # a caption has at least one token: an immediate end of sequence is never a caption
            "min_new_tokens": max(params.min_length, 1),
            "num_beams": params.num_beams,
            "do_sample": params.do_sample,
            "repetition_penalty": params.repetition_penalty,
            "num_return_sequences": params.num_candidates,
            "output_logits": True,
            "return_dict_in_generate": True,
        }
        if params.num_beams > 1:
            kw["length_penalty"] = params.length_penalty
        if params.no_repeat_ngram_size:
            kw["no_repeat_ngram_size"] = params.no_repeat_ngram_size
        if params.do_sample:
            kw["temperature"] = params.temperature
            kw["top_p"] = params.top_p
            kw["top_k"] = 0
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if pad is None:
            pad = next(iter(sorted(self._eos_ids)), None)
        if pad is not None and self.arch != "blip":
            kw["pad_token_id"] = pad
        if self.suppressed_token_ids:
            kw["suppress_tokens"] = self.suppressed_token_ids
        return kw

    def generate_raw(self, images: list, params: GenerationParams):
        t0 = time.perf_counter()
        inputs = self._preprocess(images)
        t1 = time.perf_counter()
        kw = self.generation_kwargs(params)
        if params.num_beams > 1 and self.arch == "blip":
            kw["past_key_values"] = beam_cache()  # one fresh cache per generate call
        raw, generate_s = generate_scored(self.model, self.tokenizer, inputs, kw,
                                          self._eos_ids, n_images=len(images), k=params.num_candidates)
        return raw, {"preprocess_ms": (t1 - t0) * 1000, "generate_ms": generate_s * 1000}


_BEAM_CACHE_CLASS = None


def beam_cache():
    """A fresh encoder-decoder cache for beam search whose cross-attention keys and values are not
    reordered at each step. transformers reorders both caches with the chosen beams' indices, but a
    beam only ever continues a beam of the same image, and every beam of an image holds the same
    cross-attention keys and values (computed from the same image tokens): the reorder copies them
    (12 layers x K and V x beams x 577 image tokens, every step) to the same values. Lossless."""
    global _BEAM_CACHE_CLASS
    if _BEAM_CACHE_CLASS is None:
        from transformers.cache_utils import EncoderDecoderCache

        class CrossSharedCache(EncoderDecoderCache):
            def reorder_cache(self, beam_idx):
                self.self_attention_cache.reorder_cache(beam_idx)

        _BEAM_CACHE_CLASS = CrossSharedCache
    from transformers.cache_utils import DynamicCache

    return _BEAM_CACHE_CLASS(DynamicCache(), DynamicCache())


def inputs_to(inputs, device: str, dtype: str) -> dict:
    """A processor's output as a dict with every tensor on ``device`` and the floating ones cast
    to ``dtype`` (a dtype name; "int8" models take float32 inputs, hfutils.torch_dtype)."""
    import torch

    float_dtype = torch_dtype(dtype)
    out = {}
    for k, v in dict(inputs).items():
        if hasattr(v, "to"):
            v = v.to(device)
            if torch.is_floating_point(v):
                v = v.to(float_dtype)
        out[k] = v
    return out


def generate_scored(model, tokenizer, inputs: dict, gen_kwargs: dict[str, Any], eos_ids: set[int], *,
                    n_images: int, k: int, candidate=RawCandidate, **fields) -> tuple[list[list[RawCandidate]], float]:
    """One batched ``model.generate(**inputs, **gen_kwargs)`` (which must ask for
    ``output_logits=True, return_dict_in_generate=True``) and its scores: per image, its ``k``
    candidates ``candidate(text, mean_logprob, num_tokens=..., **fields)`` in the order generated,
    and the seconds spent generating and scoring. The score is the length-normalised mean
    log-probability of each sequence's tokens from ``model.compute_transition_scores`` on the
    returned logits (no second forward pass; see _mean_logprobs)."""
    import torch

    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, **gen_kwargs)
        logits = out.logits
        beam_indices = getattr(out, "beam_indices", None)
        if logits:
            trans = model.compute_transition_scores(out.sequences, logits, beam_indices, normalize_logits=True).float()
        else:
            trans = torch.zeros((out.sequences.shape[0], 0), dtype=torch.float32)
        # Beam search trims the returned sequences to the longest kept beam, which can be shorter
        # than the number of steps run: the transition scores have that length.
        n_gen = trans.shape[1]
        tokens = out.sequences[:, out.sequences.shape[1] - n_gen :]
        beam_valid = (beam_indices[:, :n_gen] >= 0) if beam_indices is not None else None
    generate_s = time.perf_counter() - t0
    means, counts = _mean_logprobs(tokens, trans, eos_ids, beam_valid, with_counts=True)
    texts = tokenizer.batch_decode(tokens, skip_special_tokens=True)
    raw = [
        [candidate(texts[j].strip(), means[j], num_tokens=counts[j], **fields) for j in range(i * k, (i + 1) * k)]
        for i in range(n_images)
    ]
    return raw, generate_s


def _mean_logprobs(tokens, trans, eos_ids: set[int], beam_valid=None, with_counts: bool = False):
    """Length-normalised mean log-probability over each sequence's tokens up to and including its
    first end-of-sequence token (padding after it is ignored)."""
    import torch

    if tokens.numel() == 0:
        empty = [None] * tokens.shape[0]
        return (empty, [0] * tokens.shape[0]) if with_counts else empty
    is_eos = torch.zeros_like(tokens, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= tokens == e
    # a position is valid when no eos came strictly before it
    before = torch.cumsum(is_eos.int(), dim=1) - is_eos.int()
    valid = (before == 0) & torch.isfinite(trans)
    if beam_valid is not None and beam_valid.shape == valid.shape:
        valid &= beam_valid.to(valid.device)
    sums = torch.where(valid, trans, torch.zeros_like(trans)).sum(dim=1)
    counts = valid.sum(dim=1)
    means = [float(s / c) if c > 0 else None for s, c in zip(sums.tolist(), counts.tolist(), strict=False)]
    return (means, counts.tolist()) if with_counts else means


class ITMScorer:
    """Image-text matching with BlipForImageTextRetrieval (e.g. Salesforce/blip-itm-base-coco).

    ``score_candidates(images, raw)`` fills each RawCandidate's itm_prob with P(match); the image
    is encoded once and its embeddings reused for every candidate.
    """

    def __init__(self, model, processor, *, model_id: str, device: str = "cpu", dtype: str = "float32"):
        self.model = model
        self.processor = processor
        self.model_id = model_id
        self.device = device
        self.dtype = dtype

    @classmethod
    def from_pretrained(cls, source: str, device: str | None = None, dtype: str | None = None) -> ITMScorer:
        from transformers import BlipForImageTextRetrieval, BlipProcessor

        dev = resolve_device(device)
        dt = resolve_dtype(dtype, dev)
        if dt == "int8":
            dt = "float32"
        with quiet_transformers():
            model = _from_pretrained(
                BlipForImageTextRetrieval.from_pretrained, source, source, "ITM weights", dtype=torch_dtype(dt)
            )
            processor = _from_pretrained(BlipProcessor.from_pretrained, source, source, "ITM processor")
        model.eval().to(dev)
        return cls(model, processor, model_id=source, device=dev, dtype=dt)

    def match_probs(self, images: list, texts_per_image: list[list[str]]) -> list[list[float]]:
        import torch

        if not images:
            return []
        pixel = self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        pixel = pixel.to(self.device, torch_dtype(self.dtype))
        flat_texts, owner = [], []
        for i, texts in enumerate(texts_per_image):
            for t in texts:
                flat_texts.append(t or ".")
                owner.append(i)
        if not flat_texts:
            return [[] for _ in images]
        with torch.inference_mode():
            image_embeds = self.model.vision_model(pixel_values=pixel).last_hidden_state
            enc = self.processor.tokenizer(flat_texts, return_tensors="pt", padding=True, truncation=True, max_length=64)
            idx = torch.tensor(owner, device=image_embeds.device)
            emb = image_embeds.index_select(0, idx)
            atts = torch.ones(emb.shape[:-1], dtype=torch.long, device=emb.device)
            hidden = self.model.text_encoder(
                input_ids=enc["input_ids"].to(self.device),
                attention_mask=enc["attention_mask"].to(self.device),
                encoder_hidden_states=emb,
                encoder_attention_mask=atts,
            ).last_hidden_state
            probs = torch.softmax(self.model.itm_head(hidden[:, 0, :]).float(), dim=-1)[:, 1].tolist()
        out: list[list[float]] = [[] for _ in images]
        for i, p in zip(owner, probs, strict=False):
            out[i].append(float(p))
        return out

    def score_candidates(self, images: list, raw: list[list[RawCandidate]]) -> None:
        probs = self.match_probs(images, [[c.raw_text for c in cands] for cands in raw])
        for cands, ps in zip(raw, probs, strict=False):
            for c, p in zip(cands, ps, strict=False):
                c.itm_prob = p
