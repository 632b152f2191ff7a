"""Tiny random models of every supported architecture, for tests (no network, a second or two each).

Each ``build_tiny_<arch>(dest_dir)`` writes a folder with ``save_pretrained`` (config, weights,
processor / tokenizer files) that ``load_captioner(folder)`` loads like a real checkpoint.
The Django tests use ``build_tiny_blip`` too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = [
    "CAPTION_WORDS",
    "build_tiny_blip",
    "build_tiny_blip_itm",
    "build_tiny_blip2",
    "build_tiny_git",
    "build_tiny_vit_gpt2",
    "make_test_images",
]

#: words of the tiny vocabularies (enough to make caption-like gibberish)
CAPTION_WORDS: tuple[str, ...] = tuple(
    ["a", "an", "the", "of", "on", "in", "with", "and", "at", "near", "by", "is", "are", "two", "three", "man", "woman", "person", "people", "child", "dog", "dogs", "cat", "cats", "bird", "horse", "car", "bus", "train", "bike", "boat", "plane", "street", "road", "table", "plate", "food", "pizza", "cake", "grass", "field", "beach", "water", "sky", "tree", "trees", "house", "building", "room", "kitchen", "bed", "couch", "chair", "window", "wall", "red", "blue", "green", "white", "black", "yellow", "small", "large", "young", "old", "sitting", "standing", "walking", "riding", "holding", "eating", "playing", "lying", "looking", "parked", "flying", "top", "front", "next", "group", "picture", "photo", "view"]
)

_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _bert_tokenizer(words: Sequence[str] = CAPTION_WORDS, add_dec: bool = True):
    from transformers import BertTokenizer

    vocab = {t: i for i, t in enumerate(list(_SPECIALS) + list(words) + [".", ",", "'", "-"])}
    tok = BertTokenizer(vocab=vocab)
    if add_dec:
        tok.add_special_tokens({"bos_token": "[DEC]"})
    return tok


def _seeded(seed: int):
    import torch

    torch.manual_seed(seed)


def _quiet():
    from mlcore.hfutils import quiet_transformers

    return quiet_transformers()


def _scale_weights(model, factor: float) -> None:
    """Random-init weights are tiny, which makes every image give the same caption; scaling the
    matrices up makes the tiny models image-dependent (useful to test batching and order)."""
    import torch

    with torch.no_grad():
        for _name, p in model.named_parameters():
            if p.dim() >= 2:
                p.mul_(factor)


def _save_random_model(model_class, config, processor, dest: str, *, seed: int, scale: float | None) -> str:
    """Build `model_class(config)` with seeded random weights (scaled up when `scale` is given)
    and save it with its processor into `dest`, as save_pretrained lays out a real model."""
    _seeded(seed)
    with _quiet():
        model = model_class(config).eval()
        if scale is not None:
            _scale_weights(model, scale)
        model.save_pretrained(dest)
        processor.save_pretrained(dest)
    return dest


def build_tiny_blip(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """A tiny random BlipForConditionalGeneration + BlipProcessor (PIL image processor) folder."""
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    dest = os.fspath(dest_dir)
    tok = _bert_tokenizer()
    processor = BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": image_size, "width": image_size}),
                              tokenizer=tok)
    config = BlipConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=48, max_position_embeddings=128, bos_token_id=tok.bos_token_id,
            sep_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id,
        ),
        vision_config=dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
            image_size=image_size, patch_size=8, initializer_range=0.2,
        ),
        projection_dim=32,
    )
    return _save_random_model(BlipForConditionalGeneration, config, processor, dest, seed=seed, scale=scale)


def build_tiny_blip_itm(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32) -> str:
    """A tiny random BlipForImageTextRetrieval (the ITM model) + BlipProcessor folder."""
    from transformers import BlipConfig, BlipForImageTextRetrieval, BlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    dest = os.fspath(dest_dir)
    tok = _bert_tokenizer()
    processor = BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": image_size, "width": image_size}),
                              tokenizer=tok)
    config = BlipConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=48, max_position_embeddings=128, bos_token_id=tok.bos_token_id,
                         sep_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                           image_size=image_size, patch_size=8, initializer_range=0.2),
        projection_dim=32,
    )
    return _save_random_model(BlipForImageTextRetrieval, config, processor, dest, seed=seed, scale=None)


def make_test_images(n: int = 4, size: tuple[int, int] = (48, 40), seed: int = 0):
    """``n`` distinct PIL RGB images (coloured shapes on noise), deterministic for a seed."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.RandomState(seed)
    images = []
    for i in range(n):
        arr = (rng.rand(size[1], size[0], 3) * 80).astype("uint8")
        img = Image.fromarray(arr, "RGB")
        draw = ImageDraw.Draw(img)
        color = tuple(int(c) for c in rng.randint(0, 256, 3))
        x0, y0 = int(rng.randint(0, size[0] // 2)), int(rng.randint(0, size[1] // 2))
        shape = [x0, y0, x0 + size[0] // 2, y0 + size[1] // 2]
        (draw.ellipse if i % 2 else draw.rectangle)(shape, fill=color)
        images.append(img)
    return images


def _bpe_tokenizer(extra_specials: Sequence[str] = ()):
    """A tiny byte-level BPE (GPT-2 / OPT style) tokenizer: whole caption words plus letters."""
    from transformers import GPT2Tokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab: dict[str, int] = {}
    for t in specials + list(string_letters()) + ["Ġ", ".", ","]:
        vocab.setdefault(t, len(vocab))
    merges: list[tuple[str, str]] = []
    for w in CAPTION_WORDS:
        # merges building "Ġ" + word left to right, so whole words become one token
        cur = "Ġ"
        for ch in w:
            merges.append((cur, ch))
            cur += ch
            vocab.setdefault(cur, len(vocab))
    merges = list(dict.fromkeys(merges))
    tok = GPT2Tokenizer(vocab=vocab, merges=merges, bos_token="</s>", eos_token="</s>", unk_token="<unk>",
                        pad_token="<pad>")
    if extra_specials:
        tok.add_special_tokens({"additional_special_tokens": list(extra_specials)})
    return tok


def string_letters() -> str:
    return "abcdefghijklmnopqrstuvwxyz'-"


def build_tiny_blip2(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """A tiny random Blip2ForConditionalGeneration (ViT + Q-Former + tiny OPT) + Blip2Processor."""
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    dest = os.fspath(dest_dir)
    num_query = 4
    tok = _bpe_tokenizer()
    processor = Blip2Processor(
        image_processor=BlipImageProcessorPil(size={"height": image_size, "width": image_size}),
        tokenizer=tok,
        num_query_tokens=num_query,
    )
    image_token_id = tok.convert_tokens_to_ids("<image>")
    config = Blip2Config(
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48,
                           image_size=image_size, patch_size=8, initializer_range=0.2),
        qformer_config=dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=48, encoder_hidden_size=32, max_position_embeddings=64),
        text_config=dict(model_type="opt", vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, ffn_dim=48, max_position_embeddings=128, word_embed_proj_dim=32,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        num_query_tokens=num_query,
        image_token_index=image_token_id,
    )
    return _save_random_model(Blip2ForConditionalGeneration, config, processor, dest, seed=seed, scale=scale)


def build_tiny_git(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """A tiny random GitForCausalLM + GitProcessor (CLIP image processor, BERT tokenizer)."""
    from transformers import GitConfig, GitForCausalLM, GitProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    dest = os.fspath(dest_dir)
    tok = _bert_tokenizer(add_dec=False)
    processor = GitProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                              crop_size={"height": image_size, "width": image_size}),
        tokenizer=tok,
    )
    config = GitConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48,
                           image_size=image_size, patch_size=8),
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
        max_position_embeddings=128, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
        pad_token_id=tok.pad_token_id, initializer_range=0.2,
    )
    return _save_random_model(GitForCausalLM, config, processor, dest, seed=seed, scale=scale)


def build_tiny_vit_gpt2(dest_dir: str | os.PathLike, seed: int = 0, image_size: int = 32, scale: float = 3.0) -> str:
    """A tiny random VisionEncoderDecoderModel (ViT encoder + GPT-2 decoder), ViT image processor,
    GPT-2 tokenizer: the layout of nlpconnect/vit-gpt2-image-captioning."""
    from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    dest = os.fspath(dest_dir)
    tok = _bpe_tokenizer()
    enc = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48,
                    image_size=image_size, patch_size=8, initializer_range=0.2)
    dec = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     add_cross_attention=True, is_decoder=True)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    config.decoder_start_token_id = tok.bos_token_id
    config.pad_token_id = tok.pad_token_id
    config.eos_token_id = tok.eos_token_id
    _seeded(seed)
    with _quiet():
        model = VisionEncoderDecoderModel(config=config).eval()
        model.generation_config.decoder_start_token_id = tok.bos_token_id
        model.generation_config.pad_token_id = tok.pad_token_id
        model.generation_config.eos_token_id = tok.eos_token_id
        _scale_weights(model, scale)
        model.save_pretrained(dest)
        ViTImageProcessorPil(size={"height": image_size, "width": image_size}).save_pretrained(dest)
        tok.save_pretrained(dest)
    return dest


BUILDERS = {
    "blip": build_tiny_blip,
    "blip2": build_tiny_blip2,
    "git": build_tiny_git,
    "vision-encoder-decoder": build_tiny_vit_gpt2,
}
