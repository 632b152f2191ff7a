"""The model catalogue: the one home of what mlcore knows about models.

Pure Python (no torch, no transformers): the web process reads it to answer "can model X write
style S in language L" without loading anything.

Two tables:

* ``FAMILIES``: one ``Family`` record per family of models that share a predictor and a way of
  taking a prompt (prompt-less image-to-text models, chat vision-language models, PaliGemma's task
  prefixes, Florence-2's task tokens, the in-house model, OpenAI-compatible servers). A record says
  which transformers ``model_type`` values belong to it, which predictor runs it, whether and how it
  takes a prompt, which caption styles and languages it can write, its batching needs (prompt
  padding side, one image list per prompt) and its image size.
* ``MODELS``: one ``ModelEntry`` per registry name: its hub id (None for a model that only exists
  as a local checkpoint, e.g. ``inhouse``), its ``model_type`` (hence its family) and the published
  shape the benchmarks build it at (``PublishedShape``: parameter count, the shape-determining part
  of ``config.json``, the processor resolution, where the values come from).

Adding a model of a known family is one ``ModelEntry`` (``add_model`` at run time, or a line in
``_PUBLISHED``); a new family is one predictor module plus one ``Family`` record. Everything else
(``mlcore.registry``, ``mlcore.capabilities``, each captioner's ``check_style``, the benchmark
shapes, the site's model choices) reads these tables.

Composite specs (``ensemble:``, ``fallback:``) have no entry: what they can write is computed from
their members (``Capabilities.all_of``: every member captions every image; ``Capabilities.any_of``:
any member may caption an image).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .params import GenerationParams
from .styles import STYLES, UnsupportedStyle, get_style

__all__ = [
    "Family",
    "ModelEntry",
    "PublishedShape",
    "Capabilities",
    "FAMILIES",
    "MODELS",
    "DEFAULT_MODEL",
    "family_of",
    "family_named",
    "model_types",
    "add_model",
    "remove_model",
    "hub_ids",
    "entry_for_hub_id",
    "spec_capabilities_of",
    "config_model_type",
]


# -- capabilities -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Capabilities:
    """What a model can write. ``styles`` / ``languages`` None mean "any registered style" /
    "any language" (primary subtags otherwise). ``known`` is False when the model's family could not
    be told without loading it (a hub id not in the local cache): the captioner checks again when it
    runs. ``reason``: why it is limited, said in a refusal ("it takes no prompt")."""

    styles: frozenset[str] | None
    languages: frozenset[str] | None
    known: bool = True
    reason: str = "it takes no prompt"

    def refusal(self, params: GenerationParams) -> tuple[str, str] | None:
        """None when ``params.style`` / ``params.language`` can be written, else (field, value)."""
        style = get_style(params.style)
        if self.styles is not None and style.name not in self.styles:
            return "style", params.style
        if self.languages is not None and params.language.split("-")[0] not in self.languages:
            return "language", params.language
        return None

    def allows(self, params: GenerationParams) -> tuple[bool, str]:
        """(True, "") or (False, 'style'|'language')."""
        refused = self.refusal(params)
        return (True, "") if refused is None else (False, refused[0])

    def check(self, params: GenerationParams, model: str, reason: str | None = None) -> None:
        """Raise UnsupportedStyle (naming ``model``, what it supports and why) when ``params`` asks for
        a style or language this cannot write."""
        refused = self.refusal(params)
        if refused is None:
            return
        field_name, value = refused
        supported = self.styles if field_name == "style" else self.languages
        raise UnsupportedStyle(model, field_name, value, supported or frozenset(), reason=reason or self.reason)

    @classmethod
    def all_of(cls, members: Iterable[Capabilities]) -> Capabilities:
        """Every member writes every caption (an ensemble): the intersection."""
        caps = list(members)
        given = [c.styles for c in caps if c.styles is not None]
        given_l = [c.languages for c in caps if c.languages is not None]
        return cls(frozenset.intersection(*given) if given else None,
                   frozenset.intersection(*given_l) if given_l else None,
                   all(c.known for c in caps), "every member of an ensemble captions every image")

    @classmethod
    def any_of(cls, members: Iterable[Capabilities]) -> Capabilities:
        """Any member may caption an image (a fallback chain): the union."""
        caps = list(members)
        styles = None if any(c.styles is None for c in caps) else frozenset().union(*(c.styles for c in caps))
        langs = None if any(c.languages is None for c in caps) else frozenset().union(*(c.languages for c in caps))
        return cls(styles, langs, all(c.known for c in caps), "no member of the chain can")


ANY = Capabilities(None, None)
UNKNOWN = Capabilities(None, None, known=False)


# -- families ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """One family of models: how mlcore runs them and what they can write.

    name: the family's name (also ``captioner.family``). predictor: which mlcore predictor runs it
    ('hf' image-to-text, 'vlm' image-text-to-text, 'inhouse', 'openai'). model_types: config
    ``model_type`` -> transformers model class name (empty for families that are not transformers
    models). prompt: how it takes an instruction: 'none' (prompt-less), 'chat-template',
    'task-prefix' (PaliGemma's ``caption <lang>``), 'task-token' (Florence-2's ``<CAPTION>``),
    'server' (the server's chat API). styles: the caption styles it can write, None for every
    registered style (custom ones included). languages: primary subtags it can write, None for any.
    padding_side: how prompts of a batch are padded ('left' for decoder-only prompt models, None
    when there is no prompt to pad). nested_images: model types whose processor wants one list of
    images per prompt. image_size: the input side in pixels when the family has one fixed size.
    refusal: why it cannot write other styles/languages (said in UnsupportedStyle).
    location_tokens: its vocabulary holds detection/segmentation tokens (``<loc0000>``, ``<loc_0>``)
    that generation must never pick (a caption is words).
    """

    name: str
    predictor: str
    prompt: str
    styles: frozenset[str] | None
    languages: frozenset[str] | None
    model_types: Mapping[str, str] = field(default_factory=dict)
    padding_side: str | None = None
    nested_images: frozenset[str] = frozenset()
    image_size: int | None = None
    refusal: str = "it takes no prompt"
    location_tokens: bool = False
    description: str = ""

    @property
    def prompted(self) -> bool:
        return self.prompt != "none"

    @property
    def capabilities(self) -> Capabilities:
        styles = self.styles
        if styles is not None:
            styles = frozenset(s for s in styles if s in STYLES)
        return Capabilities(styles, self.languages, True, self.refusal)


_EN = frozenset({"en"})
_ALT = frozenset({"alt"})

FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("blip", "hf", "none", _ALT, _EN, {"blip": "BlipForConditionalGeneration"}, image_size=384,
           description="BLIP: ViT encoder + BERT decoder, conditioned on the COCO prefix 'a picture of'"),
    Family("blip2", "hf", "none", _ALT, _EN, {"blip-2": "Blip2ForConditionalGeneration"}, image_size=224,
           description="BLIP-2: frozen ViT, Q-Former and a frozen language model (OPT)"),
    Family("git", "hf", "none", _ALT, _EN, {"git": "GitForCausalLM"}, image_size=224,
           description="GIT: CLIP image encoder + a small text decoder"),
    Family("vision-encoder-decoder", "hf", "none", _ALT, _EN,
           {"vision-encoder-decoder": "VisionEncoderDecoderModel"}, image_size=224,
           description="a vision encoder (ViT) glued to a text decoder (GPT-2), e.g. vit-gpt2"),
    Family("chat", "vlm", "chat-template", None, None,
           {t: "AutoModelForImageTextToText" for t in (
               "llava", "llava_next", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "idefics2",
               "idefics3", "smolvlm", "gemma3", "mistral3")},
           padding_side="left", nested_images=frozenset({"gemma3", "idefics2", "idefics3", "smolvlm"}),
           description="chat vision-language models: one user turn [image, style prompt] through the chat template"),
    Family("paligemma", "vlm", "task-prefix", None, None, {"paligemma": "AutoModelForImageTextToText"},
           padding_side="left", image_size=224, location_tokens=True,
           description="PaliGemma: task prefixes 'caption <lang>', 'describe <lang>', 'answer <lang> <prompt>'"),
    # Florence-2 follows task tokens, never a free prompt: it writes the built-in styles that have one
    # (alt: <CAPTION>, description: <MORE_DETAILED_CAPTION>) in English; no tags, no custom styles.
    Family("florence2", "vlm", "task-token", frozenset({"alt", "description"}), _EN,
           {"florence2": "AutoModelForImageTextToText"}, image_size=768,
           refusal="Florence-2 follows task tokens, not free prompts", location_tokens=True,
           description="Florence-2: DaViT encoder + BART-style encoder-decoder driven by task tokens"),
    Family("inhouse", "inhouse", "none", _ALT, _EN,
           description="mlcore's own ResNet-50 encoder + Transformer decoder, trained with mlcore.training"),
    Family("openai", "openai", "server", None, None,
           description="an OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp, OpenAI)"),
]}


def family_named(name: str) -> Family:
    return FAMILIES[name]


def model_types(predictor: str | None = None) -> dict[str, Family]:
    """config ``model_type`` -> its Family (only the families run by ``predictor`` when given)."""
    return {t: f for f in FAMILIES.values() if predictor in (None, f.predictor) for t in f.model_types}


def family_of(model_type: str | None) -> Family | None:
    """The Family of a config ``model_type`` (None: not a supported architecture)."""
    return model_types().get(model_type) if model_type else None


# -- model entries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedShape:
    """The shape a model is published at, for measurements with random weights (the benchmarks)."""

    published_params: int  #: the publisher's stated total (model card / hub safetensors metadata)
    config: dict[str, Any]  #: the shape-determining part of the published config.json
    processor: dict[str, Any] = field(default_factory=dict)  #: the published image-processor resolution
    source: str = ""  #: where the values come from
    #: the published total counts the tied output head a second time (the checkpoint stores it)
    published_counts_tied: bool = False


@dataclass(frozen=True)
class ModelEntry:
    """One registry name. hub_id None: a model that exists only as a local checkpoint (its folder
    comes from ``$MLCORE_MODEL_<NAME>`` or ``$MLCORE_MODELS_DIR/<name>``)."""

    name: str
    hub_id: str | None
    model_type: str
    shape: PublishedShape | None = None
    family_name: str = ""

    def __post_init__(self) -> None:
        if not self.name or "," in self.name or ":" in self.name or "|" in self.name:
            raise ValueError(f"bad model name {self.name!r}")
        if not self.family_name:
            fam = family_of(self.model_type)
            if fam is None:
                raise ValueError(f"{self.name}: unknown model_type {self.model_type!r}; known: "
                                 f"{', '.join(sorted(model_types()))} (a new family needs a Family record)")
            object.__setattr__(self, "family_name", fam.name)
        elif self.family_name not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family_name!r}")

    @property
    def family(self) -> Family:
        return FAMILIES[self.family_name]

    @property
    def capabilities(self) -> Capabilities:
        return self.family.capabilities


def _entry(name: str, hub_id: str, model_type: str, published_params: int, config: dict[str, Any],
           processor: dict[str, Any], source: str, published_counts_tied: bool = False) -> ModelEntry:
    return ModelEntry(name, hub_id, model_type,
                      PublishedShape(published_params, config, processor, source, published_counts_tied))


_CLIP_L336 = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  image_size=336, patch_size=14, projection_dim=768)
_SIGLIP_SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                      patch_size=14)
_BERT_BASE_TEXT = dict(vocab_size=30524, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                       intermediate_size=3072, max_position_embeddings=512)

#: every published model, with the shape its publisher states
_PUBLISHED: list[ModelEntry] = [
    _entry("blip-base", "Salesforce/blip-image-captioning-base", "blip", 247_000_000,
          dict(vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=384, patch_size=16),
               text_config=dict(_BERT_BASE_TEXT, encoder_hidden_size=768)),
          dict(image_size=384),
          "config.json of Salesforce/blip-image-captioning-base (a copy is in benchmarks/fixtures/blip-image-captioning-base)",
          published_counts_tied=True),
    _entry("blip-large", "Salesforce/blip-image-captioning-large", "blip", 470_000_000,
          dict(vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                  num_attention_heads=16, image_size=384, patch_size=16),
               text_config=dict(_BERT_BASE_TEXT, encoder_hidden_size=1024)),
          dict(image_size=384),
          "config.json of Salesforce/blip-image-captioning-large (ViT-L/16 at 384 px + BERT-base decoder)",
          published_counts_tied=True),
    _entry("blip2-opt-2.7b", "Salesforce/blip2-opt-2.7b", "blip-2", 3_870_000_000,
          dict(vision_config=dict(hidden_size=1408, intermediate_size=6144, num_hidden_layers=39,
                                  num_attention_heads=16, image_size=224, patch_size=14),
               qformer_config=dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                   intermediate_size=3072, cross_attention_frequency=2, encoder_hidden_size=1408),
               text_config=dict(model_type="opt", vocab_size=50272, hidden_size=2560, num_hidden_layers=32,
                                num_attention_heads=32, ffn_dim=10240, max_position_embeddings=2048,
                                word_embed_proj_dim=2560),
               num_query_tokens=32),
          dict(image_size=224),
          "config.json of Salesforce/blip2-opt-2.7b (EVA ViT-g/14 at 224 px, Q-Former, OPT-2.7B)",
          published_counts_tied=True),
    _entry("git-base-coco", "microsoft/git-base-coco", "git", 177_000_000,
          dict(vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=224, patch_size=16),
               vocab_size=30522, hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
               intermediate_size=3072, max_position_embeddings=1024),
          dict(image_size=224),
          "config.json of microsoft/git-base-coco (CLIP ViT-B/16 at 224 px + 6-layer decoder)"),
    _entry("git-large-coco", "microsoft/git-large-coco", "git", 394_000_000,
          dict(vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                  num_attention_heads=16, image_size=224, patch_size=14),
               vocab_size=30522, hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
               intermediate_size=3072, max_position_embeddings=1024),
          dict(image_size=224),
          "config.json of microsoft/git-large-coco (CLIP ViT-L/14 at 224 px + 6-layer decoder)"),
    _entry("vit-gpt2", "nlpconnect/vit-gpt2-image-captioning", "vision-encoder-decoder", 239_000_000,
          dict(encoder=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                            image_size=224, patch_size=16),
               decoder=dict(vocab_size=50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024)),
          dict(image_size=224),
          "config.json of nlpconnect/vit-gpt2-image-captioning (ViT-B/16-in21k + GPT-2 with cross-attention)"),
    _entry("smolvlm-256m", "HuggingFaceTB/SmolVLM-256M-Instruct", "idefics3", 256_000_000,
          dict(vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=512, patch_size=16),
               text_config=dict(vocab_size=49280, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                                rope_theta=100000.0, tie_word_embeddings=False),
               scale_factor=4, tie_word_embeddings=False),
          dict(longest_edge=2048, tile=512, image_seq_len=64),
          "config.json / preprocessor_config.json of HuggingFaceTB/SmolVLM-256M-Instruct (SigLIP-B/16 512 px, "
          "SmolLM2-135M; images resized to 2048 px longest edge and split into 512 px tiles + a global view)"),
    _entry("smolvlm-500m", "HuggingFaceTB/SmolVLM-500M-Instruct", "idefics3", 507_000_000,
          dict(vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=512, patch_size=16),
               text_config=dict(vocab_size=49280, hidden_size=960, intermediate_size=2560, num_hidden_layers=32,
                                num_attention_heads=15, num_key_value_heads=5, max_position_embeddings=8192,
                                rope_theta=100000.0, tie_word_embeddings=False),
               scale_factor=4, tie_word_embeddings=False),
          dict(longest_edge=2048, tile=512, image_seq_len=64),
          "config.json / preprocessor_config.json of HuggingFaceTB/SmolVLM-500M-Instruct (SigLIP-B/16 512 px, "
          "SmolLM2-360M)"),
    _entry("florence-2-base", "florence-community/Florence-2-base", "florence2", 230_000_000,
          dict(vision_config=dict(depths=[1, 1, 9, 1], embed_dim=[128, 256, 512, 1024], num_heads=[4, 8, 16, 32],
                                  num_groups=[4, 8, 16, 32], window_size=12, projection_dim=768,
                                  patch_size=[7, 3, 3, 3], patch_stride=[4, 2, 2, 2], patch_padding=[3, 1, 1, 1],
                                  patch_prenorm=[False, True, True, True], max_position_embeddings=50),
               text_config=dict(vocab_size=51289, d_model=768, encoder_layers=6, decoder_layers=6,
                                encoder_attention_heads=12, decoder_attention_heads=12, encoder_ffn_dim=3072,
                                decoder_ffn_dim=3072, max_position_embeddings=1024)),
          dict(image_size=768, image_seq_len=577),
          "config.json of florence-community/Florence-2-base (DaViT 768 px + BART-base-sized encoder-decoder; "
          "microsoft/Florence-2-base states 0.23B)"),
    _entry("florence-2-large", "florence-community/Florence-2-large", "florence2", 771_000_000,
          dict(vision_config=dict(depths=[1, 1, 9, 1], embed_dim=[256, 512, 1024, 2048],
                                  num_heads=[8, 16, 32, 64], num_groups=[8, 16, 32, 64], window_size=12,
                                  projection_dim=1024, patch_size=[7, 3, 3, 3], patch_stride=[4, 2, 2, 2],
                                  patch_padding=[3, 1, 1, 1], patch_prenorm=[False, True, True, True],
                                  max_position_embeddings=50),
               text_config=dict(vocab_size=51289, d_model=1024, encoder_layers=12, decoder_layers=12,
                                encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096,
                                decoder_ffn_dim=4096, max_position_embeddings=1024)),
          dict(image_size=768, image_seq_len=577),
          "config.json of florence-community/Florence-2-large (microsoft/Florence-2-large states 0.77B)"),
    _entry("qwen2-vl-2b", "Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl", 2_210_000_000,
          dict(vision_config=dict(depth=32, embed_dim=1280, hidden_size=1536, num_heads=16, mlp_ratio=4,
                                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
               text_config=dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                                num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                                 "mrope_section": [16, 24, 24]}, tie_word_embeddings=True),
               tie_word_embeddings=True),
          dict(patch_size=14, merge_size=2, min_pixels=56 * 56, max_pixels=28 * 28 * 1280),
          "config.json / preprocessor_config.json of Qwen/Qwen2-VL-2B-Instruct"),
    _entry("qwen2.5-vl-3b", "Qwen/Qwen2.5-VL-3B-Instruct", "qwen2_5_vl", 3_750_000_000,
          dict(vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16,
                                  out_hidden_size=2048, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                                  window_size=112, fullatt_block_indexes=[7, 15, 23, 31]),
               text_config=dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                                num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=128000,
                                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                                 "mrope_section": [16, 24, 24]}, tie_word_embeddings=True),
               tie_word_embeddings=True),
          dict(patch_size=14, merge_size=2, min_pixels=56 * 56, max_pixels=28 * 28 * 1280),
          "config.json / preprocessor_config.json of Qwen/Qwen2.5-VL-3B-Instruct"),
    _entry("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl", 8_290_000_000,
          dict(vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16,
                                  out_hidden_size=3584, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                                  window_size=112, fullatt_block_indexes=[7, 15, 23, 31]),
               text_config=dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                                num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=128000,
                                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                                 "mrope_section": [16, 24, 24]}, tie_word_embeddings=False),
               tie_word_embeddings=False),
          dict(patch_size=14, merge_size=2, min_pixels=56 * 56, max_pixels=28 * 28 * 1280),
          "config.json / preprocessor_config.json of Qwen/Qwen2.5-VL-7B-Instruct"),
    _entry("qwen3-vl-2b", "Qwen/Qwen3-VL-2B-Instruct", "qwen3_vl", 2_130_000_000,
          dict(vision_config=dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16,
                                  out_hidden_size=2048, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                                  num_position_embeddings=2304, deepstack_visual_indexes=[5, 11, 17]),
               text_config=dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                                num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                                max_position_embeddings=262144,
                                rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                                 "mrope_section": [24, 20, 20], "mrope_interleaved": True},
                                tie_word_embeddings=True),
               tie_word_embeddings=True),
          dict(patch_size=16, merge_size=2, min_pixels=64 * 64, max_pixels=32 * 32 * 1280),
          "config.json / preprocessor_config.json of Qwen/Qwen3-VL-2B-Instruct"),
    _entry("llava-1.5-7b", "llava-hf/llava-1.5-7b-hf", "llava", 7_060_000_000,
          dict(vision_config=dict(_CLIP_L336),
               text_config=dict(model_type="llama", vocab_size=32064, hidden_size=4096, intermediate_size=11008,
                                num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                                max_position_embeddings=4096),
               vision_feature_layer=-2),
          dict(image_size=336, patch_size=14),
          "config.json of llava-hf/llava-1.5-7b-hf (CLIP ViT-L/14-336 + Vicuna-7B)"),
    _entry("llava-next-7b", "llava-hf/llava-v1.6-mistral-7b-hf", "llava_next", 7_570_000_000,
          dict(vision_config=dict(_CLIP_L336),
               text_config=dict(model_type="mistral", vocab_size=32064, hidden_size=4096, intermediate_size=14336,
                                num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                max_position_embeddings=32768, rope_theta=1000000.0),
               vision_feature_layer=-2,
               image_grid_pinpoints=[[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]),
          dict(image_size=336, patch_size=14),
          "config.json of llava-hf/llava-v1.6-mistral-7b-hf (CLIP ViT-L/14-336 any-resolution + Mistral-7B)"),
    _entry("paligemma-3b", "google/paligemma-3b-mix-224", "paligemma", 2_920_000_000,
          dict(vision_config=dict(_SIGLIP_SO400M, image_size=224, projection_dim=2048),
               text_config=dict(model_type="gemma", vocab_size=257216, hidden_size=2048, intermediate_size=16384,
                                num_hidden_layers=18, num_attention_heads=8, num_key_value_heads=1, head_dim=256,
                                max_position_embeddings=8192),
               projection_dim=2048, hidden_size=2048),
          dict(image_size=224, image_seq_len=256),
          "config.json of google/paligemma-3b-mix-224 (SigLIP-So400m/14 at 224 px + Gemma-2B)"),
    _entry("gemma-3-4b", "google/gemma-3-4b-it", "gemma3", 4_300_000_000,
          dict(vision_config=dict(_SIGLIP_SO400M, image_size=896),
               text_config=dict(vocab_size=262208, hidden_size=2560, intermediate_size=10240, num_hidden_layers=34,
                                num_attention_heads=8, num_key_value_heads=4, head_dim=256,
                                max_position_embeddings=131072, sliding_window=1024),
               mm_tokens_per_image=256),
          dict(image_size=896, image_seq_len=256),
          "config.json of google/gemma-3-4b-it (SigLIP-So400m/14 at 896 px + Gemma-3-4B)"),
]

#: registry name -> entry (the published models, then ``inhouse``: mlcore's own model, offered where a
#: trained checkpoint exists)
MODELS: dict[str, ModelEntry] = {e.name: e for e in _PUBLISHED}
MODELS["inhouse"] = ModelEntry("inhouse", None, "", family_name="inhouse")
DEFAULT_MODEL = "blip-base"
#: file that marks a folder as an in-house (ResNet-50 + Transformer decoder) checkpoint
INHOUSE_MARKER = "mlcore_inhouse.json"


def add_model(entry: ModelEntry) -> ModelEntry:
    """Register ``entry`` (a new name, or replace an existing one). One entry is all a model of a
    known family needs: the registry loads it, capabilities answer for it, the site offers it."""
    if not isinstance(entry, ModelEntry):
        raise TypeError("add_model takes a ModelEntry")
    MODELS[entry.name] = entry
    return entry


def remove_model(name: str) -> None:
    MODELS.pop(name, None)


def hub_ids() -> dict[str, str]:
    """registry name -> hub id, for the entries that have one."""
    return {n: e.hub_id for n, e in MODELS.items() if e.hub_id}


def entry_for_hub_id(hub_id: str) -> ModelEntry | None:
    return next((e for e in MODELS.values() if e.hub_id == hub_id), None)


# -- what a resolved spec can write -------------------------------------------------------------


def config_model_type(source: str) -> str | None:
    """``model_type`` of ``source``'s config.json (a folder, or a hub id in the local Hugging Face
    cache), read without loading anything; None when it cannot be read offline."""
    path = os.path.join(source, "config.json") if os.path.isdir(source) else None
    if path is None:
        try:
            from huggingface_hub import try_to_load_from_cache

            from .config import get_config

            found = try_to_load_from_cache(source, "config.json", cache_dir=get_config().hf_cache)
            path = found if isinstance(found, str) else None
        except Exception:  # noqa: BLE001 - not in the cache, or not a valid repo id
            path = None
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        return None
    # a config that is not an object, or a model_type that is not a name: not known (never a crash)
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return model_type if isinstance(model_type, str) else None


def spec_capabilities_of(ms) -> Capabilities:
    """What a resolved mlcore.params.ModelSpec can write, without loading it."""
    if ms.kind == "openai":
        return FAMILIES["openai"].capabilities
    if ms.kind == "inhouse":
        return FAMILIES["inhouse"].capabilities
    if ms.kind in ("ensemble", "fallback"):
        members = [spec_capabilities_of(m) for m in ms.members]
        return Capabilities.all_of(members) if ms.kind == "ensemble" else Capabilities.any_of(members)
    source = ms.path or ms.model_id
    fam = family_of(config_model_type(source))
    if fam is None:
        # a registry model whose files are not fetched yet (or whose folder has no readable config)
        entry = entry_for_hub_id(source) or MODELS.get(ms.name)
        fam = entry.family if entry is not None else None
    return fam.capabilities if fam is not None else UNKNOWN
