"""Vision-language models (image-text-to-text) behind the Captioner interface.

One predictor for LLaVA / LLaVA-NeXT, Qwen2-VL / Qwen2.5-VL / Qwen3-VL, SmolVLM (Idefics3),
PaliGemma, Gemma 3 and Florence-2: ``AutoModelForImageTextToText`` + ``AutoProcessor`` loaded with
``from_pretrained`` (local cache first, as mlcore.predictors.hf), and the prompt built from the caption
style (mlcore.styles) and language:

* chat models: one user turn ``[image, style prompt]`` through the processor's chat template with
  ``add_generation_prompt=True``;
* PaliGemma (no chat template): its task prefixes ``caption <lang>`` (alt), ``describe <lang>``
  (description), ``answer <lang> <style prompt>`` (others);
* Florence-2 (task tokens, English only): ``<CAPTION>`` (alt), ``<MORE_DETAILED_CAPTION>`` (description);
  it follows task tokens, never a free prompt, so tags and custom styles are refused.

What each family can write (styles, languages) and its batching needs (left padding, one image list
per prompt) are read from the model catalogue (mlcore.catalog.FAMILIES).

Batches: one ``generate`` per chunk, prompts padded on the LEFT for decoder-only models (a right-padded
prompt would make every shorter row continue after pad tokens). The confidence is the same as for
the image-to-text models: the length-normalised mean log-probability of the generated tokens from
``compute_transition_scores`` (mlcore.confidence), then the shared post-processing
(mlcore.postprocess), then the style's post-processing (CaptionStyle.finish).
"""

from __future__ import annotations

import functools
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from ..catalog import FAMILIES, model_types
from ..errors import ModelLoadError
from ..hfutils import quiet_transformers, resolve_device, resolve_dtype, torch_dtype
from ..params import GenerationParams
from ..styles import CaptionStyle, get_style
from .base import Captioner, RawCandidate
from .hf import (
    _from_pretrained,
    generate_scored,
    inputs_to,
    model_version_of,
    quantize_dynamic_int8,
)

__all__ = ["VLMCaptioner", "VLM_ARCHITECTURES", "is_vlm", "VLMRawCandidate", "style_score_text"]

#: config.model_type -> prompt family ("chat": chat template; "paligemma": task prefixes; "florence2":
#: task tokens), from the vision-language families of the model catalogue (mlcore.catalog). Tested with
#: tiny random models: llava, llava_next, qwen2_vl, qwen2_5_vl, qwen3_vl, idefics3, paligemma, gemma3,
#: florence2 (tests/mlcore/test_vlm.py, and through the worker in tests/worker/test_vlm_architectures.py).
VLM_ARCHITECTURES: dict[str, str] = {model_type: family.name for model_type, family in model_types("vlm").items()}

# PaliGemma / Florence-2 location and segmentation tokens (detection outputs, not words)
_LOC_TOKEN_RE = re.compile(r"<(?:loc|seg)_?\d{1,4}>", re.IGNORECASE)


@dataclass
class VLMRawCandidate(RawCandidate):
    """A raw candidate that knows the style it was asked for (its post-processing)."""

    style: CaptionStyle | None = None


def style_score_text(captioner: Captioner, raw: RawCandidate) -> tuple[str, float, dict]:
    """The shared clean-up (mlcore.postprocess with the captioner's rules), then the style's
    post-processing (CaptionStyle.finish), then the confidence of the final text (mlcore.confidence)."""
    from ..confidence import combine
    from ..postprocess import postprocess

    style = getattr(raw, "style", None) or get_style(None)
    text = style.finish(postprocess(_LOC_TOKEN_RE.sub(" ", raw.raw_text), captioner.rules))
    score, details = combine(text, raw.mean_logprob, raw.itm_prob, captioner.confidence_config, raw.raw_text)
    return text, score, details


def _config_model_type(source: str, spec: str, strict: bool = False) -> str | None:
    from transformers import AutoConfig

    try:
        with quiet_transformers():
            cfg = _from_pretrained(AutoConfig.from_pretrained, source, spec, "config")
    except ModelLoadError:
        if strict:
            raise
        return None
    return getattr(cfg, "model_type", None)


@functools.cache
def _image_only(processor_cls: type) -> type:
    """``processor_cls`` (a transformers ProcessorMixin whose ``__init__`` takes ``image_processor``,
    ``tokenizer`` and ``video_processor``) without its video processor.

    transformers builds a processor's parts from the parameter names of its ``__init__``
    (``ProcessorMixin.get_attributes``): this subclass's ``__init__`` names only the image processor and
    the tokenizer, so ``from_pretrained`` loads those two (``AutoImageProcessor``, which gives the PIL
    image processor when torchvision is absent, and ``AutoTokenizer``), the processor's own settings and the
    chat template (chat_template.jinja / chat_template.json / processor_config.json) exactly as for the
    full class, and never looks at video_preprocessor_config.json. Prompts and image tokens come from the
    unchanged parent class; only ``processor(videos=...)`` is missing (captionsite never sends video)."""

    class ImageOnlyProcessor(processor_cls):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                             chat_template=chat_template, **kwargs)

    ImageOnlyProcessor.__name__ = ImageOnlyProcessor.__qualname__ = f"{processor_cls.__name__}ImageOnly"
    ImageOnlyProcessor.__doc__ = f"{processor_cls.__name__} without its video processor (images only)."
    return ImageOnlyProcessor


def _processor_loader(model_type: str):
    """``from_pretrained`` of the image-only variant of ``model_type``'s processor class when that class
    wants a video processor and torchvision is not installed (transformers' video processors import
    torchvision: Qwen2-VL, Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision); ``None`` otherwise (AutoProcessor, the
    full processor, as transformers would load it)."""
    import transformers
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        return None
    processor_cls = getattr(transformers, PROCESSOR_MAPPING_NAMES.get(model_type) or "", None)
    if processor_cls is None or "video_processor" not in processor_cls.get_attributes():
        return None
    return _image_only(processor_cls).from_pretrained


def is_vlm(source: str, spec: str | None = None, strict: bool = False) -> bool:
    """True when ``source`` (folder or hub id in the local cache) is a supported vision-language model.
    A config that cannot be read gives False, or raises its ModelLoadError with ``strict`` (the
    registry uses that: every loader needs the config, so there is no point asking the hub twice)."""
    return _config_model_type(source, spec or source, strict) in VLM_ARCHITECTURES


class VLMCaptioner(Captioner):
    """An image-text-to-text model behind the Captioner interface (see the module docstring).

    Styles: every registered style for chat models and PaliGemma; for Florence-2 only ``alt`` and
    ``description``, mapped to its task tokens (it follows task tokens, never a free prompt: tags and
    custom styles are refused). Languages: any BCP 47 tag for chat models and PaliGemma (how well a model
    writes it depends on the model); English only for Florence-2. All of this is the family's record in
    mlcore.catalog; unsupported combinations raise mlcore.styles.UnsupportedStyle before any work.
    """

    kind = "vlm"

    def __init__(self, model, processor, *, model_type: str, model_id: str, model_version: str, device: str,
                 dtype: str, **kwargs):
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", None) or processor
        self.model_type = model_type
        self.family = VLM_ARCHITECTURES[model_type]
        self.arch = model_type
        self.model_id = model_id
        self.model_version = model_version
        self.device = device
        self.dtype = dtype
        self.is_encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
        record = FAMILIES[self.family]
        self.nested_images = model_type in record.nested_images
        if (not self.is_encoder_decoder and record.padding_side and hasattr(self.tokenizer, "padding_side")):
            self.tokenizer.padding_side = record.padding_side
        super().__init__(**kwargs)
        self._eos_ids = self._find_eos_ids()
        self._location_ids = self._find_location_ids()

    @classmethod
    def from_pretrained(cls, source: str, *, spec: str | None = None, device: str | None = None,
                        dtype: str | None = None, **kwargs) -> VLMCaptioner:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        spec = spec or source
        dev = resolve_device(device)
        dt = resolve_dtype(dtype, dev)
        model_type = _config_model_type(source, spec)
        if model_type not in VLM_ARCHITECTURES:
            raise ModelLoadError(
                f"{source!r} is a {model_type!r} model; supported vision-language architectures: "
                f"{', '.join(sorted(VLM_ARCHITECTURES))}", spec)
        with quiet_transformers():
            processor = _from_pretrained(_processor_loader(model_type) or AutoProcessor.from_pretrained, source,
                                         spec, "processor")
            load_dtype = torch_dtype("float32" if dt == "int8" else dt)
            model = _from_pretrained(AutoModelForImageTextToText.from_pretrained, source, spec, "weights",
                                     dtype=load_dtype)
        if VLM_ARCHITECTURES[model_type] == "chat" and not (
            getattr(processor, "chat_template", None) or getattr(getattr(processor, "tokenizer", None), "chat_template", None)
        ):
            raise ModelLoadError(
                f"{source!r} has no chat template: use an instruction-tuned checkpoint (e.g. *-Instruct, *-it, *-hf) "
                "or add chat_template.jinja to the folder", spec)
        model.eval()
        model = quantize_dynamic_int8(model) if dt == "int8" else model.to(dev)
        model_id = os.path.abspath(source) if os.path.isdir(source) else source
        return cls(model, processor, model_type=model_type, model_id=model_id,
                   model_version=model_version_of(source, model), device=dev, dtype=dt, **kwargs)

    # -- styles and prompts ---------------------------------------------------------------------

    def prompt_for(self, params: GenerationParams) -> str:
        """The exact instruction sent for ``params.style`` / ``params.language`` (recorded on results)."""
        style = get_style(params.style)
        lang = params.language.split("-")[0]
        if self.family == "florence2":
            return style.florence_task
        if self.family == "paligemma":
            if style.name == "alt":
                return f"caption {lang}"
            if style.name == "description":
                return f"describe {lang}"
            return f"answer {lang} {style.prompt_for_params(params)}"
        return style.prompt_for_params(params)

    def _texts(self, prompt: str, n: int) -> list[str]:
        if self.family == "paligemma":
            return [getattr(self.processor, "image_token", "<image>") + prompt] * n
        if self.family != "chat":
            return [prompt] * n
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return [text] * n

    # -- generation -------------------------------------------------------------------------------

    def _find_eos_ids(self) -> set[int]:
        ids: set[int] = set()
        cfg = self.model.config
        for c in (getattr(self.model, "generation_config", None), cfg, getattr(cfg, "text_config", None)):
            eos = getattr(c, "eos_token_id", None) if c is not None else None
            if eos is None:
                continue
            ids.update(int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]))
        tok_eos = getattr(self.tokenizer, "eos_token_id", None)
        if tok_eos is not None:
            ids.add(int(tok_eos))
        for name in ("<end_of_utterance>", "<|im_end|>", "<end_of_turn>", "<|eot_id|>"):
            tid = self.tokenizer.convert_tokens_to_ids(name) if hasattr(self.tokenizer, "convert_tokens_to_ids") else None
            if isinstance(tid, int) and tid != getattr(self.tokenizer, "unk_token_id", None):
                ids.add(tid)
        return ids

    def _find_location_ids(self) -> list[int]:
        """The ids of the detection / segmentation tokens (PaliGemma's ``<loc0000>``..``<seg127>``,
        Florence-2's ``<loc_0>``..): a caption is words, so generation never picks them (they would only be
        stripped afterwards, and a caption of nothing but them would fail the image)."""
        if not FAMILIES[self.family].location_tokens or not hasattr(self.tokenizer, "get_vocab"):
            return []
        return sorted(i for t, i in self.tokenizer.get_vocab().items() if _LOC_TOKEN_RE.fullmatch(t))

    def generation_kwargs(self, params: GenerationParams, style: CaptionStyle) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "max_new_tokens": style.max_new_tokens(params.max_length),
            "min_new_tokens": params.min_length,
            "num_beams": params.num_beams,
            "do_sample": params.do_sample,
            "repetition_penalty": params.repetition_penalty,
            "num_return_sequences": params.num_candidates,
            "output_logits": True,
            "return_dict_in_generate": True,
            "eos_token_id": sorted(self._eos_ids) or None,
        }
        if params.num_beams > 1:
            kw["length_penalty"] = params.length_penalty
        if self._location_ids:
            kw["suppress_tokens"] = self._location_ids
        if params.no_repeat_ngram_size:
            kw["no_repeat_ngram_size"] = params.no_repeat_ngram_size
        if params.do_sample:
            kw.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if pad is None:
            pad = next(iter(sorted(self._eos_ids)), None)
        if pad is not None:
            kw["pad_token_id"] = pad
        return kw

    def _inputs(self, images: list, prompt: str) -> dict:
        texts = self._texts(prompt, len(images))
        imgs: list = [[im] for im in images] if self.nested_images else list(images)
        enc = self.processor(images=imgs, text=texts, return_tensors="pt", padding=True)
        return inputs_to(enc, self.device, self.dtype)

    def generate_raw(self, images: list, params: GenerationParams):
        style = get_style(params.style)
        prompt = self.prompt_for(params)
        t0 = time.perf_counter()
        inputs = self._inputs(images, prompt)
        t1 = time.perf_counter()
        raw, generate_s = generate_scored(self.model, self.tokenizer, inputs, self.generation_kwargs(params, style),
                                          self._eos_ids, n_images=len(images), k=params.num_candidates,
                                          candidate=VLMRawCandidate, style=style)
        return raw, {"preprocess_ms": (t1 - t0) * 1000, "generate_ms": generate_s * 1000}

    def score_text(self, raw: RawCandidate):
        return style_score_text(self, raw)

    def caption_prompt(self, params: GenerationParams) -> str | None:
        return self.prompt_for(params)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(model_type=self.model_type, family=self.family)
        return d
