"""The published shapes of every registry model (mlcore.registry.REGISTRY), for memory and speed
measurements with random weights (``python -m benchmarks.bench_models``).

Each entry of ``SHAPES`` holds the shape-determining values of the model's published
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

__all__ = ["SHAPES", "Shape", "build_config", "build_captioner", "count_parameters", "needs_missing_package",
           "published_check"]


@dataclass(frozen=True)
class Shape:
    name: str  #: registry short name
    hub_id: str
    model_type: str  #: config.model_type (selects the builder)
    published_params: int  #: the publisher's stated total (model card / hub safetensors metadata)
    config: dict[str, Any]  #: the shape-determining part of the published config.json
    processor: dict[str, Any] = field(default_factory=dict)  #: the published image-processor resolution
    source: str = ""  #: where the values come from
    #: the published total counts the tied output head a second time (the checkpoint stores it)
    published_counts_tied: bool = False


_CLIP_L336 = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  image_size=336, patch_size=14, projection_dim=768)
_SIGLIP_SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                      patch_size=14)
_BERT_BASE_TEXT = dict(vocab_size=30524, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                       intermediate_size=3072, max_position_embeddings=512)

SHAPES: dict[str, Shape] = {s.name: s for s in [
    Shape("blip-base", "Salesforce/blip-image-captioning-base", "blip", 247_000_000,
          dict(vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=384, patch_size=16),
               text_config=dict(_BERT_BASE_TEXT, encoder_hidden_size=768)),
          dict(image_size=384),
          "config.json of Salesforce/blip-image-captioning-base (/work/shared/fixtures/blip-image-captioning-base)",
          published_counts_tied=True),
    Shape("blip-large", "Salesforce/blip-image-captioning-large", "blip", 470_000_000,
          dict(vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                  num_attention_heads=16, image_size=384, patch_size=16),
               text_config=dict(_BERT_BASE_TEXT, encoder_hidden_size=1024)),
          dict(image_size=384),
          "config.json of Salesforce/blip-image-captioning-large (ViT-L/16 at 384 px + BERT-base decoder)",
          published_counts_tied=True),
    Shape("blip2-opt-2.7b", "Salesforce/blip2-opt-2.7b", "blip-2", 3_870_000_000,
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
    Shape("git-base-coco", "microsoft/git-base-coco", "git", 177_000_000,
          dict(vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=224, patch_size=16),
               vocab_size=30522, hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
               intermediate_size=3072, max_position_embeddings=1024),
          dict(image_size=224),
          "config.json of microsoft/git-base-coco (CLIP ViT-B/16 at 224 px + 6-layer decoder)"),
    Shape("git-large-coco", "microsoft/git-large-coco", "git", 394_000_000,
          dict(vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                  num_attention_heads=16, image_size=224, patch_size=14),
               vocab_size=30522, hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
               intermediate_size=3072, max_position_embeddings=1024),
          dict(image_size=224),
          "config.json of microsoft/git-large-coco (CLIP ViT-L/14 at 224 px + 6-layer decoder)"),
    Shape("vit-gpt2", "nlpconnect/vit-gpt2-image-captioning", "vision-encoder-decoder", 239_000_000,
          dict(encoder=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                            image_size=224, patch_size=16),
               decoder=dict(vocab_size=50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024)),
          dict(image_size=224),
          "config.json of nlpconnect/vit-gpt2-image-captioning (ViT-B/16-in21k + GPT-2 with cross-attention)"),
    Shape("smolvlm-256m", "HuggingFaceTB/SmolVLM-256M-Instruct", "idefics3", 256_000_000,
          dict(vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=512, patch_size=16),
               text_config=dict(vocab_size=49280, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                                rope_theta=100000.0, tie_word_embeddings=False),
               scale_factor=4, tie_word_embeddings=False),
          dict(longest_edge=2048, tile=512, image_seq_len=64),
          "config.json / preprocessor_config.json of HuggingFaceTB/SmolVLM-256M-Instruct (SigLIP-B/16 512 px, "
          "SmolLM2-135M; images resized to 2048 px longest edge and split into 512 px tiles + a global view)"),
    Shape("smolvlm-500m", "HuggingFaceTB/SmolVLM-500M-Instruct", "idefics3", 507_000_000,
          dict(vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=512, patch_size=16),
               text_config=dict(vocab_size=49280, hidden_size=960, intermediate_size=2560, num_hidden_layers=32,
                                num_attention_heads=15, num_key_value_heads=5, max_position_embeddings=8192,
                                rope_theta=100000.0, tie_word_embeddings=False),
               scale_factor=4, tie_word_embeddings=False),
          dict(longest_edge=2048, tile=512, image_seq_len=64),
          "config.json / preprocessor_config.json of HuggingFaceTB/SmolVLM-500M-Instruct (SigLIP-B/16 512 px, "
          "SmolLM2-360M)"),
    Shape("florence-2-base", "florence-community/Florence-2-base", "florence2", 230_000_000,
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
    Shape("florence-2-large", "florence-community/Florence-2-large", "florence2", 771_000_000,
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
    Shape("qwen2-vl-2b", "Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl", 2_210_000_000,
          dict(vision_config=dict(depth=32, embed_dim=1280, hidden_size=1536, num_heads=16, mlp_ratio=4,
                                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
               text_config=dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                                num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                                 "mrope_section": [16, 24, 24]}, tie_word_embeddings=True),
               tie_word_embeddings=True),
          dict(patch_size=14, merge_size=2, min_pixels=56 * 56, max_pixels=28 * 28 * 1280),
          "config.json / preprocessor_config.json of Qwen/Qwen2-VL-2B-Instruct"),
    Shape("qwen2.5-vl-3b", "Qwen/Qwen2.5-VL-3B-Instruct", "qwen2_5_vl", 3_750_000_000,
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
    Shape("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl", 8_290_000_000,
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
    Shape("qwen3-vl-2b", "Qwen/Qwen3-VL-2B-Instruct", "qwen3_vl", 2_130_000_000,
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
    Shape("llava-1.5-7b", "llava-hf/llava-1.5-7b-hf", "llava", 7_060_000_000,
          dict(vision_config=dict(_CLIP_L336),
               text_config=dict(model_type="llama", vocab_size=32064, hidden_size=4096, intermediate_size=11008,
                                num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                                max_position_embeddings=4096),
               vision_feature_layer=-2),
          dict(image_size=336, patch_size=14),
          "config.json of llava-hf/llava-1.5-7b-hf (CLIP ViT-L/14-336 + Vicuna-7B)"),
    Shape("llava-next-7b", "llava-hf/llava-v1.6-mistral-7b-hf", "llava_next", 7_570_000_000,
          dict(vision_config=dict(_CLIP_L336),
               text_config=dict(model_type="mistral", vocab_size=32064, hidden_size=4096, intermediate_size=14336,
                                num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                max_position_embeddings=32768, rope_theta=1000000.0),
               vision_feature_layer=-2,
               image_grid_pinpoints=[[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]),
          dict(image_size=336, patch_size=14),
          "config.json of llava-hf/llava-v1.6-mistral-7b-hf (CLIP ViT-L/14-336 any-resolution + Mistral-7B)"),
    Shape("paligemma-3b", "google/paligemma-3b-mix-224", "paligemma", 2_920_000_000,
          dict(vision_config=dict(_SIGLIP_SO400M, image_size=224, projection_dim=2048),
               text_config=dict(model_type="gemma", vocab_size=257216, hidden_size=2048, intermediate_size=16384,
                                num_hidden_layers=18, num_attention_heads=8, num_key_value_heads=1, head_dim=256,
                                max_position_embeddings=8192),
               projection_dim=2048, hidden_size=2048),
          dict(image_size=224, image_seq_len=256),
          "config.json of google/paligemma-3b-mix-224 (SigLIP-So400m/14 at 224 px + Gemma-2B)"),
    Shape("gemma-3-4b", "google/gemma-3-4b-it", "gemma3", 4_300_000_000,
          dict(vision_config=dict(_SIGLIP_SO400M, image_size=896),
               text_config=dict(vocab_size=262208, hidden_size=2560, intermediate_size=10240, num_hidden_layers=34,
                                num_attention_heads=8, num_key_value_heads=4, head_dim=256,
                                max_position_embeddings=131072, sliding_window=1024),
               mm_tokens_per_image=256),
          dict(image_size=896, image_seq_len=256),
          "config.json of google/gemma-3-4b-it (SigLIP-So400m/14 at 896 px + Gemma-3-4B)"),
]}


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
#: image-to-text architectures (HFCaptioner); the rest are VLMCaptioner models
_HF_ARCH = {"blip": "blip", "blip-2": "blip2", "git": "git", "vision-encoder-decoder": "vision-encoder-decoder"}


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
