"""Tokens that are not words never reach a caption, an empty caption is never a success, and one
failing image never fails its neighbours."""

from __future__ import annotations

import pytest
import torch

from benchmarks.testing import make_test_images
from mlcore import CaptionFailure, CaptionResult, GenerationParams, load_captioner
from mlcore.errors import FailureKind
from mlcore.hfutils import NON_WORD_TOKEN_RE, non_word_token_ids

GREEDY = GenerationParams(num_beams=1, max_length=6, min_length=0)
BEAMS = GenerationParams(num_beams=3, num_alternatives=2, max_length=6, min_length=0)
UNUSED = ("[unused0]", "[unused1]")


def _build_with_unused_tokens(builder, dest):
    """The real tiny builder, with a BERT vocabulary that has [unused0] and [unused1] (as BERT's,
    BLIP's and GIT's real vocabularies have)."""
    import benchmarks.testing as testing

    original = testing._bert_tokenizer

    def tokenizer_with_unused(words=testing.CAPTION_WORDS, add_dec=True):
        return original(UNUSED + tuple(words), add_dec)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(testing, "_bert_tokenizer", tokenizer_with_unused)
        return builder(dest)


def _lm_bias(model):
    """The bias of the language-model head (the logits' last additive term)."""
    if hasattr(model, "text_decoder"):  # BLIP
        return model.text_decoder.cls.predictions.decoder.bias
    return model.get_output_embeddings().bias  # GIT


def _force_unused0(folder: str, model_class) -> int:
    """Rewrite the saved model so that [unused0] wins every step of plain generation."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    unused0 = tok.convert_tokens_to_ids("[unused0]")
    model = model_class.from_pretrained(folder)
    with torch.no_grad():
        _lm_bias(model)[unused0] = 1e4
    model.save_pretrained(folder)
    return unused0


@pytest.fixture(scope="module", params=["blip", "git"])
def forced_unused(request, tmp_path_factory):
    from transformers import BlipForConditionalGeneration, GitForCausalLM

    from benchmarks.testing import build_tiny_blip, build_tiny_git

    builder, model_class = {
        "blip": (build_tiny_blip, BlipForConditionalGeneration),
        "git": (build_tiny_git, GitForCausalLM),
    }[request.param]
    folder = _build_with_unused_tokens(builder, tmp_path_factory.mktemp(request.param) / "model")
    unused0 = _force_unused0(folder, model_class)
    return request.param, folder, unused0


def test_the_forced_model_really_prefers_unused0(forced_unused):
    """Without the ban, plain transformers generation writes [unused0]: the test below can fail."""
    _, folder, unused0 = forced_unused
    cap = load_captioner(folder, dtype="float32")
    inputs = cap._preprocess(make_test_images(1))
    with torch.inference_mode():
        seq = cap.model.generate(**inputs, max_new_tokens=4, num_beams=1, do_sample=False)
    assert unused0 in seq[0].tolist()
    assert "[unused0]" in cap.tokenizer.decode(seq[0], skip_special_tokens=True)


@pytest.mark.parametrize("params", [GREEDY, BEAMS], ids=["greedy", "beams"])
def test_unused_tokens_never_reach_a_caption(forced_unused, params):
    arch, folder, unused0 = forced_unused
    cap = load_captioner(folder, dtype="float32")
    assert cap.arch == arch and unused0 in cap.suppressed_token_ids
    assert not set(cap.suppressed_token_ids) & cap._eos_ids  # it can still stop
    for result in cap.caption(make_test_images(3), params):
        for cand in result.candidates:
            assert "unused" not in cand.raw_text.lower() and "unused" not in cand.text.lower(), cand
        assert result.ok and result.text


def test_every_architecture_bans_its_markers(tmp_path):
    from benchmarks.testing import BUILDERS

    for arch, builder in BUILDERS.items():
        cap = load_captioner(builder(tmp_path / arch), dtype="float32")
        banned = {cap.tokenizer.convert_ids_to_tokens(i) for i in cap.suppressed_token_ids}
        vocab = cap.tokenizer.get_vocab()
        for marker in ("[UNK]", "[MASK]", "<unk>", "<image>"):
            if marker in vocab:
                assert marker in banned, (arch, marker)
        assert not {t for t in banned if t.isalpha()}, (arch, banned)  # no word is banned
        kwargs = cap.generation_kwargs(GREEDY)
        assert kwargs["suppress_tokens"] == cap.suppressed_token_ids and kwargs["min_new_tokens"] >= 1
        assert all(r.ok for r in cap.caption(make_test_images(2), GREEDY))


def test_non_word_token_pattern():
    for token in ["[unused0]", "[unused993]", "[UNK]", "[MASK]", "[CLS]", "[SEP]", "[PAD]", "[DEC]",
                  "<unk>", "<s>", "</s>", "<pad>", "<mask>", "<image>", "<|endoftext|>", "<extra_id_7>"]:
        assert NON_WORD_TOKEN_RE.match(token), token
    for token in ["cat", "Ġdog", "[", "]", "<", ">", "[]", "<>", "##s", ".", "a[b]", "x<y>"]:
        assert not NON_WORD_TOKEN_RE.match(token), token


def test_non_word_ids_keep_what_generation_needs():
    from transformers import BertTokenizer

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "cat", "."])}
    tok = BertTokenizer(vocab=vocab)
    assert non_word_token_ids(tok, keep={3, 0}) == [1, 2, 4, 5]
    tok.add_tokens(["<weird>"])  # an added token that is not a word, not marked special
    assert len(vocab) in non_word_token_ids(tok, keep={3, 0})


# -- the in-house decoder ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def inhouse_unk_lover(tmp_path_factory):
    """A tiny in-house checkpoint whose decoder prefers <unk> at every step (then <eos>)."""
    from mlcore.predictors.custom import (
        EOS,
        UNK,
        WordVocab,
        build_model,
        save_checkpoint,
        tiny_inhouse_config,
    )

    torch.manual_seed(0)
    config = tiny_inhouse_config()
    vocab = WordVocab.build(["a cat on a mat .", "two dogs in the grass ."])
    model = build_model(config, len(vocab), load_pretrained=False).eval()
    with torch.no_grad():
        model.norm.weight.zero_()
        model.norm.bias.zero_()
        model.norm.bias[0] = 1.0  # every hidden state is e0: the logits are the tied embeddings' column 0
        model.tok.weight[:, 0] = 0.0
        model.tok.weight[UNK, 0] = 50.0
        model.tok.weight[EOS, 0] = 40.0
        model.tok.weight[vocab.stoi["cat"], 0] = 10.0
    folder = save_checkpoint(str(tmp_path_factory.mktemp("inhouse") / "ckpt"), model, config, vocab)
    return folder, vocab


def test_inhouse_decoder_never_picks_unk_and_never_returns_empty(inhouse_unk_lover):
    from mlcore.predictors.custom import UNK, decode_batch

    folder, vocab = inhouse_unk_lover
    cap = load_captioner(f"inhouse:{folder}", dtype="float32")
    images = make_test_images(2)
    with torch.inference_mode():
        memory = cap.model.encode(cap_pixels(cap, images))
        for params in (GREEDY, BEAMS):
            for items in decode_batch(cap.model, memory, params, len(vocab), cap.config.max_len):
                for ids, _, _ in items:
                    assert UNK not in ids
    for params in (GREEDY, BEAMS):
        for result in cap.caption(images, params):
            assert result.ok and result.text.strip(), result  # "cat", never "" stored as done
            assert "cat" in result.text.lower()


def cap_pixels(cap, images):
    from mlcore.predictors.custom import preprocess_images

    return preprocess_images(images, cap.config.image_size)


def test_an_empty_caption_is_a_failure_not_a_success(inhouse_unk_lover, monkeypatch):
    """When post-processing leaves nothing (here: only punctuation), caption() marks the result
    not ok with an error, and caption_isolated returns a CaptionFailure with a reason."""
    folder, _ = inhouse_unk_lover
    cap = load_captioner(f"inhouse:{folder}", dtype="float32", max_batch_size=3)
    monkeypatch.setattr(cap.vocab, "decode", lambda ids: " . , ")
    results = cap.caption(make_test_images(2), GREEDY)
    assert all(not r.ok and r.text == "" and r.details["error"] for r in results)
    for failure in cap.caption_isolated(make_test_images(2), GREEDY):
        assert isinstance(failure, CaptionFailure) and failure.reason and failure.error_type == "EmptyCaption" and failure.kind == FailureKind.NO_WORDS


# -- per-image failure isolation ----------------------------------------------------------------


def _poisoned(cap, marked_size):
    """Make the real image processor raise for images of ``marked_size`` (as GIT's shortest-edge
    resize of a 100000x1 image raises MemoryError): the batched code path runs unchanged."""
    real = cap.image_processor
    calls = []

    class Processor:
        def __getattr__(self, name):
            return getattr(real, name)

        def __call__(self, images, **kw):
            calls.append(len(images))
            if any(im.size == marked_size for im in images):
                raise MemoryError()
            return real(images=images, **kw)

    return Processor(), calls


@pytest.mark.parametrize("culprit", [0, 3, 6])
def test_one_bad_image_fails_alone(tiny_blip, culprit, monkeypatch):
    from PIL import Image

    images = make_test_images(7)
    images[culprit] = Image.new("RGB", (37, 3), "white")
    processor, calls = _poisoned(tiny_blip, (37, 3))
    monkeypatch.setattr(tiny_blip, "image_processor", processor)
    monkeypatch.setattr(tiny_blip, "max_batch_size", 8)

    with pytest.raises(MemoryError):
        tiny_blip.caption(images, GREEDY)  # the plain batched call fails for everyone

    out = tiny_blip.caption_isolated(images, GREEDY)
    assert len(out) == 7
    failure = out[culprit]
    assert isinstance(failure, CaptionFailure) and not failure.ok
    assert failure.reason.startswith("MemoryError: ") and len(failure.reason) > len("MemoryError: ")
    assert failure.error_type == "MemoryError" and failure.model_id == tiny_blip.model_id
    assert failure.kind == FailureKind.MODEL_ERROR
    good = [i for i in range(7) if i != culprit]
    assert all(isinstance(out[i], CaptionResult) and out[i].ok for i in good)
    expected = [r.text for r in tiny_blip.caption([images[i] for i in good], GREEDY)]
    assert [out[i].text for i in good] == expected  # the same captions as without the culprit
    assert max(calls) == 7 and calls.count(1) >= 1  # batched first, bisected down to one image


def test_isolation_covers_any_exception_and_bad_inputs(tiny_blip, monkeypatch):
    images = make_test_images(4)
    real = tiny_blip.generate_raw

    def flaky(imgs, params):
        if any(im is images[1] for im in imgs):
            raise RuntimeError("CUDA error: device-side assert triggered")
        return real(imgs, params)

    monkeypatch.setattr(tiny_blip, "generate_raw", flaky)
    out = tiny_blip.caption_isolated([images[0], images[1], "not an image", images[2], images[3]], GREEDY)
    assert [type(r).__name__ for r in out] == ["CaptionResult", "CaptionFailure", "CaptionFailure",
                                               "CaptionResult", "CaptionResult"]
    assert out[1].reason == "RuntimeError: CUDA error: device-side assert triggered"
    assert out[2].error_type == "TypeError" and "str" in out[2].reason and out[2].kind == FailureKind.MODEL_ERROR
    assert tiny_blip.caption_isolated([], GREEDY) == []
    with pytest.raises(TypeError):
        tiny_blip.caption_isolated(images, {"num_beams": 2})


def test_isolation_works_for_an_ensemble(tiny_blip_dir, monkeypatch, fresh_cache):
    ens = load_captioner(f"ensemble:{tiny_blip_dir},{tiny_blip_dir};pick=consensus", dtype="float32")
    member = ens.members[0]
    images = make_test_images(3)
    real = member.generate_raw

    def flaky(imgs, params):
        if any(im is images[2] for im in imgs):
            raise ValueError("bad pixels")
        return real(imgs, params)

    monkeypatch.setattr(member, "generate_raw", flaky)
    out = ens.caption_isolated(images, GREEDY)
    assert [r.ok for r in out] == [True, True, False]
    assert out[2].reason == "ValueError: bad pixels"
