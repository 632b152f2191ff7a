"""Tiny random vision-language models of every architecture VLMCaptioner supports, for tests.

Each ``build_tiny_<arch>(dest_dir)`` builds the real transformers config / model / processor classes
with 1-2 layers, hidden size 32 and 32-64 px images, a word-level tokenizer made in code (the
``tokenizers`` library, wrapped in PreTrainedTokenizerFast) and a chat template, and writes them with
``save_pretrained`` so that ``load_captioner(folder)`` and ``transformers serve folder`` load them like
a real checkpoint. The Qwen-VL folders are written in the hub's layout without building the transformers
processor (its video processor needs torchvision; see _QwenCheckpointFiles). No network. A few seconds
each on one CPU core.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .testing import CAPTION_WORDS, _save_random_model

__all__ = [
    "VLM_BUILDERS",
    "build_tiny_llava",
    "build_tiny_llava_next",
    "build_tiny_qwen2_vl",
    "build_tiny_qwen2_5_vl",
    "build_tiny_qwen3_vl",
    "build_tiny_idefics3",
    "build_tiny_paligemma",
    "build_tiny_gemma3",
    "build_tiny_florence2",
]

_PROMPT_WORDS = ["user", "assistant", "system", "write", "alt", "text", "for", "this", "image", "in", "english", "german", "french", "one", "short", "sentence", "at", "most", "characters", "saying", "what", "matters", "to", "who", "cannot", "see", "it", "do", "not", "start", "with", "or", "answer", "only", "describe", "detail", "paragraph", "main", "subjects", "they", "are", "doing", "setting", "colours", "any", "visible", "mood", "list", "keywords", "comma", "separated", "lowercase", "objects", "place", "activity", "caption", "does"]

#: a chat template in the common "content is a list of {type: image|text}" form (transformers serve
#: and apply_chat_template pass images as {"type": "image"}); {{ image }} is the model's image marker.
_TEMPLATE = (
    "{% for m in messages %}{{ bos }}{{ m['role'] }}:{% if m['content'] is string %} {{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' or c['type'] == 'image_url' %}"
    "{{ image }}{% elif c['type'] == 'text' %} {{ c['text'] }}{% endif %}{% endfor %}{% endif %}{{ eot }}\n"
    "{% endfor %}{% if add_generation_prompt %}{{ bos }}assistant:{% endif %}"
)


def _template(image: str, bos: str = "", eot: str = "</s>") -> str:
    return _TEMPLATE.replace("{{ image }}", image).replace("{{ bos }}", bos).replace("{{ eot }}", eot)


def _word_tokenizer(specials: Sequence[str] = (), attrs: dict | None = None, words: Sequence[str] = ()):
    """A word-level tokenizer (tokenizers.WordLevel + Whitespace pre-tokenizer) over the caption and
    prompt words, with ``specials`` as added special tokens and ``attrs`` as named special tokens
    (e.g. {'image_token': '<image>'} gives tok.image_token / tok.image_token_id)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    base = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab: dict[str, int] = {}
    for t in base + list(CAPTION_WORDS) + _PROMPT_WORDS + list(words) + list(".,:;'-?!()"):
        vocab.setdefault(t, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    attrs = dict(attrs or {})
    specials = list(dict.fromkeys(list(specials) + [v for v in attrs.values() if isinstance(v, str)]))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        extra_special_tokens=attrs,
    )
    if specials:
        tok.add_special_tokens({"additional_special_tokens": specials})
    return tok


def _llama_text(tok, **extra) -> dict:
    d = dict(model_type="llama", vocab_size=len(tok), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
             num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
             bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    d.update(extra)
    return d


def _clip_vision(image_size: int, patch: int) -> dict:
    return dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                num_attention_heads=2, image_size=image_size, patch_size=patch, projection_dim=32)


def build_tiny_llava(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """LlavaForConditionalGeneration (CLIP vision + Llama text) + LlavaProcessor, as llava-hf/llava-1.5-7b-hf."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    patch = 8
    tok = _word_tokenizer(attrs={"image_token": "<image>"})
    ip = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=patch, vision_feature_select_strategy="default",
                          num_additional_image_tokens=1, chat_template=_template("<image>"))
    cfg = LlavaConfig(vision_config=_clip_vision(image_size, patch), text_config=_llama_text(tok),
                      image_token_index=tok.image_token_id, vision_feature_select_strategy="default",
                      vision_feature_layer=-1)
    return _save_random_model(LlavaForConditionalGeneration, cfg, proc, os.fspath(dest_dir), seed=seed, scale=scale)


def build_tiny_llava_next(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32,
                          scale: float = 3.0) -> str:
    """LlavaNextForConditionalGeneration (any-resolution tiling) + LlavaNextProcessor."""
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
    )
    from transformers.models.llava_next.image_processing_pil_llava_next import (
        LlavaNextImageProcessorPil,
    )

    patch = 8
    tok = _word_tokenizer(attrs={"image_token": "<image>"})
    pinpoints = [[image_size, image_size], [image_size, 2 * image_size], [2 * image_size, image_size]]
    ip = LlavaNextImageProcessorPil(size={"shortest_edge": image_size},
                                    crop_size={"height": image_size, "width": image_size},
                                    image_grid_pinpoints=pinpoints)
    proc = LlavaNextProcessor(image_processor=ip, tokenizer=tok, patch_size=patch,
                              vision_feature_select_strategy="default", num_additional_image_tokens=1,
                              chat_template=_template("<image>"))
    cfg = LlavaNextConfig(vision_config=_clip_vision(image_size, patch), text_config=_llama_text(tok),
                          image_token_index=tok.image_token_id, vision_feature_select_strategy="default",
                          vision_feature_layer=-1, image_grid_pinpoints=pinpoints)
    return _save_random_model(LlavaNextForConditionalGeneration, cfg, proc, os.fspath(dest_dir), seed=seed,
                              scale=scale)


#: the chat template of the Qwen-VL Instruct checkpoints, reduced to what a caption turn uses
_QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' or c['type'] == 'image_url' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class _QwenCheckpointFiles:
    """The processor files of a Qwen-VL hub checkpoint (Qwen/Qwen2-VL-2B-Instruct, Qwen/Qwen2.5-VL-3B-Instruct,
    Qwen/Qwen3-VL-2B-Instruct), written without building the transformers processor (whose video processor
    needs torchvision): tokenizer files, ``preprocessor_config.json`` (the image processor, with
    ``min_pixels``/``max_pixels`` as Qwen2-VL and Qwen2.5-VL ship them, or a ``size`` of pixel counts as
    Qwen3-VL does), ``video_preprocessor_config.json`` and the legacy ``chat_template.json``."""

    def __init__(self, tokenizer, image_processor, processor_class: str, video_processor_class: str,
                 pixels_as_size: bool):
        self.tokenizer, self.image_processor = tokenizer, image_processor
        self.processor_class, self.video_processor_class = processor_class, video_processor_class
        self.pixels_as_size = pixels_as_size

    def save_pretrained(self, dest: str) -> None:
        import json

        ip = self.image_processor
        self.tokenizer.save_pretrained(dest)
        common = dict(patch_size=ip.patch_size, temporal_patch_size=ip.temporal_patch_size, merge_size=ip.merge_size,
                      image_mean=list(ip.image_mean), image_std=list(ip.image_std),
                      processor_class=self.processor_class)
        pixels = {"shortest_edge": ip.size["shortest_edge"], "longest_edge": ip.size["longest_edge"]}
        image = dict(common, image_processor_type="Qwen2VLImageProcessor")
        image.update({"size": pixels} if self.pixels_as_size else
                     {"min_pixels": pixels["shortest_edge"], "max_pixels": pixels["longest_edge"]})
        video = dict(common, video_processor_type=self.video_processor_class, size=pixels, fps=2.0)
        for name, body in (("preprocessor_config.json", image), ("video_preprocessor_config.json", video),
                           ("chat_template.json", {"chat_template": _QWEN_TEMPLATE})):
            with open(os.path.join(dest, name), "w", encoding="utf-8") as f:
                json.dump(body, f, indent=2)


def _qwen_parts(image_size: int, processor_class: str, video_processor_class: str, *, pixels_as_size: bool = False,
                patch: int = 8, mean: Sequence[float] | None = None):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    tok = _word_tokenizer(
        specials=["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>"],
        attrs={"image_token": "<|image_pad|>"},
    )
    # dynamic resolution: each image keeps its aspect, sides rounded to patch * merge, between one merged
    # patch and (2 * image_size)**2 pixels, so images of other shapes give other numbers of image tokens
    kw = {} if mean is None else dict(image_mean=list(mean), image_std=list(mean))
    ip = Qwen2VLImageProcessorPil(min_pixels=(2 * patch) ** 2, max_pixels=(2 * image_size) ** 2, patch_size=patch,
                                  merge_size=2, temporal_patch_size=2, **kw)
    files = _QwenCheckpointFiles(tok, ip, processor_class, video_processor_class, pixels_as_size)
    ids = dict(image_token_id=tok.image_token_id, video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
               vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
               vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"))
    return tok, files, ids


def _qwen_text(tok, model_type: str, mrope_section: Sequence[int] = (2, 3, 3), **extra) -> dict:
    # head_dim 16 -> rotary half 8 = mrope sections (temporal, height, width)
    d = dict(model_type=model_type, vocab_size=len(tok), hidden_size=32, intermediate_size=48,
             num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
             rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": list(mrope_section)},
             bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    d.update(extra)
    return d


def build_tiny_qwen2_vl(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """Qwen2VLForConditionalGeneration (dynamic resolution, 8 px patches, 2x2 merge) with the files of
    Qwen/Qwen2-VL-2B-Instruct (see _QwenCheckpointFiles); loads as Qwen2VLProcessor."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    tok, files, ids = _qwen_parts(image_size, "Qwen2VLProcessor", "Qwen2VLVideoProcessor")
    cfg = Qwen2VLConfig(
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=8,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        text_config=_qwen_text(tok, "qwen2_vl_text"), **ids,
    )
    return _save_random_model(Qwen2VLForConditionalGeneration, cfg, files, os.fspath(dest_dir), seed=seed,
                              scale=scale)


def build_tiny_qwen2_5_vl(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32,
                          scale: float = 3.0) -> str:
    """Qwen2_5_VLForConditionalGeneration (windowed vision attention) with the files of
    Qwen/Qwen2.5-VL-3B-Instruct; loads as Qwen2_5_VLProcessor."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tok, files, ids = _qwen_parts(image_size, "Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor")
    cfg = Qwen2_5_VLConfig(
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=32,
                           patch_size=8, spatial_merge_size=2, temporal_patch_size=2, window_size=32,
                           fullatt_block_indexes=[0], in_channels=3),
        text_config=_qwen_text(tok, "qwen2_5_vl_text"), **ids,
    )
    return _save_random_model(Qwen2_5_VLForConditionalGeneration, cfg, files, os.fspath(dest_dir), seed=seed,
                              scale=scale)


def build_tiny_qwen3_vl(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """Qwen3VLForConditionalGeneration (learned vision position embeddings interpolated to the grid,
    DeepStack: features of vision layer 0 added to the first text layer's image positions, interleaved
    M-RoPE) with the files of Qwen/Qwen3-VL-2B-Instruct (size in pixel counts, mean/std 0.5); loads as
    Qwen3VLProcessor."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    tok, files, ids = _qwen_parts(image_size, "Qwen3VLProcessor", "Qwen3VLVideoProcessor", pixels_as_size=True,
                                  mean=(0.5, 0.5, 0.5))
    cfg = Qwen3VLConfig(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=48, num_heads=2, in_channels=3,
                           patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32,
                           num_position_embeddings=16, deepstack_visual_indexes=[0]),
        text_config=_qwen_text(tok, "qwen3_vl_text", mrope_section=(4, 2, 2), head_dim=16),
        **ids,
    )
    return _save_random_model(Qwen3VLForConditionalGeneration, cfg, files, os.fspath(dest_dir), seed=seed,
                              scale=scale)


def build_tiny_idefics3(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """Idefics3ForConditionalGeneration + Idefics3Processor: the architecture of SmolVLM-256M/500M-Instruct."""
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3Processor,
    )
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    patch, scale_factor = 8, 2
    seq_len = (image_size // patch) ** 2 // scale_factor**2
    row_col = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    tok = _word_tokenizer(specials=["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
                                    *row_col])
    ip = Idefics3ImageProcessorPil(size={"longest_edge": image_size}, max_image_size={"longest_edge": image_size},
                                   do_image_splitting=False)
    proc = Idefics3Processor(image_processor=ip, tokenizer=tok, image_seq_len=seq_len,
                             chat_template=_template("<image>", eot="<end_of_utterance>"))
    cfg = Idefics3Config(
        vision_config=dict(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=2,
                           image_size=image_size, patch_size=patch),
        text_config=_llama_text(tok),
        image_token_id=tok.convert_tokens_to_ids("<image>"), scale_factor=scale_factor, pad_token_id=tok.pad_token_id,
    )
    return _save_random_model(Idefics3ForConditionalGeneration, cfg, proc, os.fspath(dest_dir), seed=seed,
                              scale=scale)


def build_tiny_paligemma(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """PaliGemmaForConditionalGeneration (SigLIP + Gemma) + PaliGemmaProcessor (prompt prefixes, no chat)."""
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
    )
    from transformers.models.siglip.image_processing_pil_siglip import (
        SiglipImageProcessorPil,
    )

    patch = 8
    n_img = (image_size // patch) ** 2
    tok = _word_tokenizer(attrs={"image_token": "<image>"}, words=["en", "de", "fr", "answer"])
    ip = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    ip.image_seq_length = n_img
    proc = PaliGemmaProcessor(image_processor=ip, tokenizer=tok)
    cfg = PaliGemmaConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=48,
                           num_hidden_layers=1, num_attention_heads=2, image_size=image_size, patch_size=patch,
                           projection_dim=32),
        text_config=dict(model_type="gemma", vocab_size=len(tok), hidden_size=32, intermediate_size=48,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        image_token_index=tok.image_token_id, projection_dim=32, hidden_size=32, pad_token_id=tok.pad_token_id,
    )
    return _save_random_model(PaliGemmaForConditionalGeneration, cfg, proc, os.fspath(dest_dir), seed=seed,
                              scale=scale)


def build_tiny_gemma3(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """Gemma3ForConditionalGeneration (SigLIP + Gemma 3, pooled image tokens) + Gemma3Processor."""
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3Processor,
    )
    from transformers.models.gemma3.image_processing_pil_gemma3 import (
        Gemma3ImageProcessorPil,
    )

    patch, mm_tokens = 8, 4
    tok = _word_tokenizer(attrs={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                                 "image_token": "<image_soft_token>"})
    ip = Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size})
    proc = Gemma3Processor(image_processor=ip, tokenizer=tok, image_seq_length=mm_tokens,
                           chat_template=_template("<start_of_image>", bos="<s>", eot="</s>"))
    cfg = Gemma3Config(
        vision_config=dict(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=2,
                           image_size=image_size, patch_size=patch),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
                         sliding_window=64, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        mm_tokens_per_image=mm_tokens, boi_token_index=tok.boi_token_id, eoi_token_index=tok.eoi_token_id,
        image_token_index=tok.image_token_id,
    )
    return _save_random_model(Gemma3ForConditionalGeneration, cfg, proc, os.fspath(dest_dir), seed=seed,
                              scale=scale)


def build_tiny_florence2(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 64, scale: float = 3.0) -> str:
    """Florence2ForConditionalGeneration (DaViT + BART encoder-decoder, transformers-native, as
    florence-community/Florence-2-base) + Florence2Processor (task tokens <CAPTION>, ...)."""
    from transformers import (
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    # DaViT strides 4 * 2 = 8: a 64 px image -> 8 x 8 = 64 tokens + 1 (temporal/pooled)
    tok = _word_tokenizer(attrs={"image_token": "<image>"})
    ip = CLIPImageProcessorPil(size={"height": image_size, "width": image_size}, do_center_crop=False)
    ip.image_seq_length = (image_size // 8) ** 2 + 1
    proc = Florence2Processor(image_processor=ip, tokenizer=tok)
    cfg = Florence2Config(
        vision_config=dict(depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1],
                           patch_prenorm=[False, True], embed_dim=[16, 32], num_heads=[2, 2], num_groups=[2, 2],
                           window_size=4, projection_dim=32, max_position_embeddings=16, drop_path_rate=0.0),
        text_config=dict(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1,
                         encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=48,
                         decoder_ffn_dim=48, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         decoder_start_token_id=tok.eos_token_id, forced_bos_token_id=None,
                         forced_eos_token_id=None),
        image_token_id=tok.image_token_id,
    )
    return _save_random_model(Florence2ForConditionalGeneration, cfg, proc, os.fspath(dest_dir), seed=seed,
                              scale=scale)


VLM_BUILDERS = {
    "llava": build_tiny_llava,
    "llava_next": build_tiny_llava_next,
    "qwen2_vl": build_tiny_qwen2_vl,
    "qwen2_5_vl": build_tiny_qwen2_5_vl,
    "qwen3_vl": build_tiny_qwen3_vl,
    "idefics3": build_tiny_idefics3,
    "paligemma": build_tiny_paligemma,
    "gemma3": build_tiny_gemma3,
    "florence2": build_tiny_florence2,
}


