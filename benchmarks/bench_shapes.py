"""The published shapes of every registry model (the model catalogue, mlcore.catalog), for memory and speed
measurements with random weights (``python -m benchmarks.bench_models``).

Each entry of ``SHAPES`` (built from the catalogue entries' ``PublishedShape``) holds the shape-determining values of the model's published
``config.json`` (hidden sizes, layers, heads, kv heads, intermediate sizes, vocabulary, image size,
patch size, ...), the image-processor resolution of its published ``preprocessor_config.json``, the
parameter count the publisher states (model card / the hub's safetensors total) and where the
values come from. A model built from these with random weights has the real parameter count, the
real activation memory and the real per-token compute; its captions are meaningless.

``build_config(name)`` gives the transformers config (token ids from a small synthetic tokenizer,
vocabulary size the real one); ``count_parameters(name)`` counts parameters on the meta device
(nothing allocated); ``build_captioner(name, device, dtype)`` builds the model with random weights
and a processor of the right kind at the real resolution, wrapped as the Captioner the registry
would load (HFCaptioner or VLMCaptioner). No network, no download.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import FunctionType
from typing import Any

from mlcore.catalog import MODELS, model_types

__all__ = ["SHAPES", "Shape", "build_config", "build_captioner", "count_parameters", "needs_missing_package",
           "published_check"]


@dataclass(frozen=True)
class Shape:
    name: str  #: registry short name
    hub_id: str | None
    model_type: str  #: config.model_type (selects the builder)
    published_params: int  #: the publisher's stated total (model card / hub safetensors metadata)
    config: dict[str, Any]  #: the shape-determining part of the published config.json
    processor: dict[str, Any] = field(default_factory=dict)  #: the published image-processor resolution
    source: str = ""  #: where the values come from
    #: the published total counts the tied output head a second time (the checkpoint stores it)
    published_counts_tied: bool = False


def _of_entry(entry) -> Shape:
    shape = entry.shape
    return Shape(entry.name, entry.hub_id, entry.model_type, shape.published_params, shape.config, shape.processor,
                 shape.source, shape.published_counts_tied)


#: registry name -> Shape, read from the model catalogue (mlcore.catalog: the shape lives in the entry)
SHAPES: dict[str, Shape] = {e.name: _of_entry(e) for e in MODELS.values() if e.shape is not None}


def needs_missing_package(name: str) -> str | None:
    """Why ``name`` cannot be built on this machine (a missing package), or None. (Qwen-VL's
    processors want torchvision for their video part; without it they are built images-only, as
    mlcore.predictors.vlm loads them.)"""
    SHAPES[name]  # KeyError for an unknown name
    return None


# -- builders: (model class, config, processor parts) per model_type ----------------------------------------
# Token ids come from small synthetic tokenizers (benchmarks.testing / benchmarks.testing_vlm); the model's
# vocabulary size stays the published one (speed and memory depend on it, not on the words).


def _bert_wordpiece(add_dec: bool = True):
    from transformers import BertTokenizer

    from .bench import _wordpiece_vocab

    tok = BertTokenizer(vocab=_wordpiece_vocab())
    if add_dec:
        tok.add_special_tokens({"bos_token": "[DEC]"})
    return tok


def _blip(shape: Shape):
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    tok = _bert_wordpiece()
    size = shape.processor["image_size"]
    proc = BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": size, "width": size}), tokenizer=tok)
    c = shape.config
    cfg = BlipConfig(vision_config=dict(c["vision_config"]),
                     text_config=dict(c["text_config"], bos_token_id=tok.bos_token_id, sep_token_id=tok.sep_token_id,
                                      pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id))
    return BlipForConditionalGeneration, cfg, proc


def _blip2(shape: Shape):
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    from .testing import _bpe_tokenizer

    c = shape.config
    tok = _bpe_tokenizer()
    size = shape.processor["image_size"]
    proc = Blip2Processor(image_processor=BlipImageProcessorPil(size={"height": size, "width": size}), tokenizer=tok,
                          num_query_tokens=c["num_query_tokens"])
    cfg = Blip2Config(vision_config=dict(c["vision_config"]), qformer_config=dict(c["qformer_config"]),
                      text_config=dict(c["text_config"], bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                       pad_token_id=tok.pad_token_id),
                      num_query_tokens=c["num_query_tokens"], image_token_index=tok.convert_tokens_to_ids("<image>"))
    return Blip2ForConditionalGeneration, cfg, proc


def _git(shape: Shape):
    from transformers import GitConfig, GitForCausalLM, GitProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tok = _bert_wordpiece(add_dec=False)
    size = shape.processor["image_size"]
    proc = GitProcessor(image_processor=CLIPImageProcessorPil(size={"shortest_edge": size},
                                                              crop_size={"height": size, "width": size}),
                        tokenizer=tok)
    c = dict(shape.config)
    cfg = GitConfig(**c, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    return GitForCausalLM, cfg, proc


def _vit_gpt2(shape: Shape):
    from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    from .testing import _bpe_tokenizer

    tok = _bpe_tokenizer()
    size = shape.processor["image_size"]
    enc = ViTConfig(**shape.config["encoder"])
    dec = GPT2Config(**shape.config["decoder"], bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     add_cross_attention=True, is_decoder=True)
    cfg = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    cfg.decoder_start_token_id = tok.bos_token_id
    cfg.pad_token_id = tok.pad_token_id
    cfg.eos_token_id = tok.eos_token_id
    return VisionEncoderDecoderModel, cfg, (ViTImageProcessorPil(size={"height": size, "width": size}), tok)


def _idefics3(shape: Shape):
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    from .testing_vlm import _template, _word_tokenizer

    p = shape.processor
    row_col = [f"<row_{i + 1}_col_{j + 1}>" for i in range(8) for j in range(8)]
    tok = _word_tokenizer(specials=["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
                                    *row_col])
    ip = Idefics3ImageProcessorPil(size={"longest_edge": p["longest_edge"]},
                                   max_image_size={"longest_edge": p["tile"]}, do_image_splitting=True)
    proc = Idefics3Processor(image_processor=ip, tokenizer=tok, image_seq_len=p["image_seq_len"],
                             chat_template=_template("<image>", eot="<end_of_utterance>"))
    c = shape.config
    cfg = Idefics3Config(
        vision_config=dict(c["vision_config"]),
        text_config=dict(c["text_config"], model_type="llama", bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        image_token_id=tok.convert_tokens_to_ids("<image>"), scale_factor=c["scale_factor"],
        pad_token_id=tok.pad_token_id, tie_word_embeddings=c["tie_word_embeddings"])
    return Idefics3ForConditionalGeneration, cfg, proc


def _florence2(shape: Shape):
    from transformers import Florence2Config, Florence2ForConditionalGeneration, Florence2Processor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from .testing_vlm import _word_tokenizer

    p = shape.processor
    tok = _word_tokenizer(attrs={"image_token": "<image>"})
    ip = CLIPImageProcessorPil(size={"height": p["image_size"], "width": p["image_size"]}, do_center_crop=False)
    ip.image_seq_length = p["image_seq_len"]
    proc = Florence2Processor(image_processor=ip, tokenizer=tok)
    c = shape.config
    cfg = Florence2Config(
        vision_config=dict(c["vision_config"], drop_path_rate=0.0),
        text_config=dict(c["text_config"], bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, decoder_start_token_id=tok.eos_token_id,
                         forced_bos_token_id=None, forced_eos_token_id=None),
        image_token_id=tok.image_token_id)
    return Florence2ForConditionalGeneration, cfg, proc


def _qwen_vl(shape: Shape):
    import transformers

    from .testing_vlm import _template, _word_tokenizer

    names = {"qwen2_vl": ("Qwen2VLConfig", "Qwen2VLForConditionalGeneration", "Qwen2VLProcessor"),
             "qwen2_5_vl": ("Qwen2_5_VLConfig", "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor"),
             "qwen3_vl": ("Qwen3VLConfig", "Qwen3VLForConditionalGeneration", "Qwen3VLProcessor")}
    config_cls, model_cls, proc_cls = (getattr(transformers, n) for n in names[shape.model_type])
    tok = _word_tokenizer(specials=["<|vision_start|>", "<|vision_end|>", "<|video_pad|>"],
                          attrs={"image_token": "<|image_pad|>"})
    c = shape.config
    cfg = config_cls(
        vision_config=dict(c["vision_config"]),
        text_config=dict(c["text_config"], bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        image_token_id=tok.image_token_id, video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=c["tie_word_embeddings"])

    def processor():  # built only when measuring
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
        from transformers.utils import is_torchvision_available

        from mlcore.predictors.vlm import _image_only

        p = shape.processor
        ip = Qwen2VLImageProcessorPil(size={"shortest_edge": p["min_pixels"], "longest_edge": p["max_pixels"]},
                                      patch_size=p["patch_size"], merge_size=p["merge_size"], temporal_patch_size=2)
        cls = proc_cls
        # without torchvision (its video processor needs it) the images-only processor the product loads
        cls = cls if is_torchvision_available() else _image_only(cls)
        return cls(image_processor=ip, tokenizer=tok,
                   chat_template=_template("<|vision_start|><|image_pad|><|vision_end|>"))

    return model_cls, cfg, processor


def _llava(shape: Shape):
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
        LlavaProcessor,
    )

    from .testing_vlm import _template, _word_tokenizer

    nxt = shape.model_type == "llava_next"
    c, p = shape.config, shape.processor
    size = p["image_size"]
    tok = _word_tokenizer(attrs={"image_token": "<image>"})
    common = dict(tokenizer=tok, patch_size=p["patch_size"], vision_feature_select_strategy="default",
                  num_additional_image_tokens=1, chat_template=_template("<image>"))
    if nxt:
        from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

        ip = LlavaNextImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                        image_grid_pinpoints=c["image_grid_pinpoints"])
        proc = LlavaNextProcessor(image_processor=ip, **common)
    else:
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        ip = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
        proc = LlavaProcessor(image_processor=ip, **common)
    extra = {"image_grid_pinpoints": c["image_grid_pinpoints"]} if nxt else {}
    cfg = (LlavaNextConfig if nxt else LlavaConfig)(
        vision_config=dict(c["vision_config"], model_type="clip_vision_model"),
        text_config=dict(c["text_config"], bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        image_token_index=tok.image_token_id, vision_feature_select_strategy="default",
        vision_feature_layer=c["vision_feature_layer"], **extra)
    return (LlavaNextForConditionalGeneration if nxt else LlavaForConditionalGeneration), cfg, proc


def _paligemma(shape: Shape):
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    from .testing_vlm import _word_tokenizer

    c, p = shape.config, shape.processor
    tok = _word_tokenizer(attrs={"image_token": "<image>"}, words=["en", "de", "fr", "answer"])
    ip = SiglipImageProcessorPil(size={"height": p["image_size"], "width": p["image_size"]})
    ip.image_seq_length = p["image_seq_len"]
    proc = PaliGemmaProcessor(image_processor=ip, tokenizer=tok)
    cfg = PaliGemmaConfig(
        vision_config=dict(c["vision_config"], model_type="siglip_vision_model"),
        text_config=dict(c["text_config"], bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        image_token_index=tok.image_token_id, projection_dim=c["projection_dim"], hidden_size=c["hidden_size"],
        pad_token_id=tok.pad_token_id)
    return PaliGemmaForConditionalGeneration, cfg, proc


def _gemma3(shape: Shape):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    from .testing_vlm import _template, _word_tokenizer

    c, p = shape.config, shape.processor
    tok = _word_tokenizer(attrs={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                                 "image_token": "<image_soft_token>"})
    ip = Gemma3ImageProcessorPil(size={"height": p["image_size"], "width": p["image_size"]})
    proc = Gemma3Processor(image_processor=ip, tokenizer=tok, image_seq_length=p["image_seq_len"],
                           chat_template=_template("<start_of_image>", bos="<s>", eot="</s>"))
    cfg = Gemma3Config(
        vision_config=dict(c["vision_config"]),
        text_config=dict(c["text_config"], bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        mm_tokens_per_image=c["mm_tokens_per_image"], boi_token_index=tok.boi_token_id,
        eoi_token_index=tok.eoi_token_id, image_token_index=tok.image_token_id)
    return Gemma3ForConditionalGeneration, cfg, proc


_BUILDERS = {
    "blip": _blip, "blip-2": _blip2, "git": _git, "vision-encoder-decoder": _vit_gpt2, "idefics3": _idefics3,
    "florence2": _florence2, "qwen2_vl": _qwen_vl, "qwen2_5_vl": _qwen_vl, "qwen3_vl": _qwen_vl, "llava": _llava,
    "llava_next": _llava, "paligemma": _paligemma, "gemma3": _gemma3,
}
#: image-to-text model types (HFCaptioner) -> their catalogue family; the rest are VLMCaptioner models
_HF_ARCH = {model_type: family.name for model_type, family in model_types("hf").items()}


def _shape(name_or_shape: str | Shape) -> Shape:
    if isinstance(name_or_shape, Shape):
        return name_or_shape
    if name_or_shape not in SHAPES:
        raise KeyError(f"no published shape for {name_or_shape!r}; known: {', '.join(SHAPES)}")
    return SHAPES[name_or_shape]


def build_config(name: str | Shape):
    """(model class, transformers config, processor parts) of a registry model at its published shape.
    The processor parts: a processor, an (image processor, tokenizer) pair (VisionEncoderDecoder), or
    a function that builds the processor (Qwen-VL: it imports torchvision)."""
    shape = _shape(name)
    from mlcore.hfutils import quiet_transformers

    with quiet_transformers():
        return _BUILDERS[shape.model_type](shape)


def count_parameters(name: str | Shape, tied_twice: bool = False) -> int:
    """The model's parameter count at its published shape, built on the meta device (no memory).
    ``tied_twice``: count a tied output head again (as a checkpoint that stores it does)."""
    import torch

    from mlcore.hfutils import quiet_transformers

    model_cls, cfg, _ = build_config(name)
    with torch.device("meta"), quiet_transformers():
        model = model_cls(cfg)
    tensors = model.state_dict().values() if tied_twice else model.parameters()
    return sum(p.numel() for p in tensors)


def published_check(name: str | Shape) -> tuple[int, int, float]:
    """(parameters counted on the meta device, the published count, relative difference), both counted
    the way the publisher counts (a stored tied head included when ``published_counts_tied``)."""
    shape = _shape(name)
    counted = count_parameters(shape, tied_twice=shape.published_counts_tied)
    return counted, shape.published_params, counted / shape.published_params - 1


def build_captioner(name: str | Shape, device: str = "cpu", dtype: str = "float32", seed: int = 0, **options):
    """The model with random weights at its published shape, in ``dtype`` on ``device``, with a processor
    of the right kind at the published resolution, as the Captioner the registry would load."""
    import torch

    from mlcore.hfutils import quiet_transformers, torch_dtype

    shape = _shape(name)
    missing = needs_missing_package(shape.name) if shape.name in SHAPES else None
    if missing:
        raise RuntimeError(f"{shape.name}: {missing}")
    model_cls, cfg, parts = build_config(shape)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype(dtype))  # allocate in the measured dtype: no fp32 copy first
    try:
        with quiet_transformers(), torch.device(device):  # and on the device: no host copy on a GPU
            model = model_cls(cfg).eval()
    finally:
        torch.set_default_dtype(previous)
    model.to(device)
    model_id, version = f"random:{shape.name}", "random-weights"
    if shape.model_type in _HF_ARCH:
        from mlcore.predictors.hf import HFCaptioner

        if isinstance(parts, tuple):
            image_processor, tokenizer, processor = parts[0], parts[1], None
        else:
            image_processor, tokenizer, processor = parts.image_processor, parts.tokenizer, parts
        if shape.model_type == "vision-encoder-decoder":
            model.generation_config.decoder_start_token_id = cfg.decoder_start_token_id
            model.generation_config.pad_token_id = cfg.pad_token_id
            model.generation_config.eos_token_id = cfg.eos_token_id
        return HFCaptioner(model, image_processor, tokenizer, processor=processor, arch=_HF_ARCH[shape.model_type],
                           model_id=model_id, model_version=version, device=device, dtype=dtype, **options)
    from mlcore.predictors.vlm import VLMCaptioner

    processor = parts() if isinstance(parts, FunctionType) else parts
    return VLMCaptioner(model, processor, model_type=shape.model_type, model_id=model_id, model_version=version,
                        device=device, dtype=dtype, **options)
