import random
import string

import pytest

import mlcore.postprocess as pp_module
from mlcore.postprocess import (
    DEFAULT_RULES,
    RULES,
    capitalise,
    collapse_repeats,
    end_with_full_stop,
    fix_articles,
    fix_spacing,
    postprocess,
    repeated_ngram_ratio,
    strip_artifacts,
    strip_filler_openers,
)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("arafed man riding a horse", "man riding a horse"),
        ("araffe sitting on a bench", "sitting on a bench"),
        ("a dog on a raft", "a dog on a raft"),  # "raft" is a word, not an artefact
        ("Arrafed cat", "cat"),
    ],
)
def test_strip_artifacts(raw, expected):
    assert " ".join(strip_artifacts(raw).split()) == expected


def test_strip_filler_openers():
    assert strip_filler_openers("there is a dog on the grass") == "a dog on the grass"
    assert strip_filler_openers("there are two cats") == "two cats"
    assert strip_filler_openers("a picture of a dog") == "a dog"
    assert strip_filler_openers("a dog there is") == "a dog there is"


def test_collapse_repeats():
    assert collapse_repeats("a dog dog dog on grass") == "a dog on grass"
    assert collapse_repeats("a man a man riding a horse") == "a man riding a horse"
    assert collapse_repeats("on the beach on the beach on the beach") == "on the beach"
    assert collapse_repeats("a b c d a b c d") == "a b c d"
    assert collapse_repeats("a dog and a cat") == "a dog and a cat"


def test_fix_spacing():
    assert fix_spacing("a man ' s hat ,  on a t - shirt .") == "a man's hat, on a t-shirt."
    assert fix_spacing("  , . hello   world  ") == "hello world"
    assert fix_spacing("a [UNK] dog") == "a dog"


def test_fix_articles():
    assert fix_articles("a elephant and an dog") == "an elephant and a dog"
    assert fix_articles("a hour with a umbrella") == "an hour with an umbrella"
    assert fix_articles("a one way sign and a university") == "a one way sign and a university"
    assert fix_articles("a a cat") == "a cat"
    assert fix_articles("A apple") == "An apple"


def test_capitalise_and_full_stop():
    assert capitalise("a dog") == "A dog"
    assert capitalise("") == ""
    assert end_with_full_stop("a dog") == "a dog."
    assert end_with_full_stop("a dog ...") == "a dog."
    assert end_with_full_stop("a dog,") == "a dog."
    assert end_with_full_stop("is it a dog?") == "is it a dog?"
    assert end_with_full_stop(" . , ") == ""


def test_pipeline():
    assert postprocess("arafed there is a a dog dog on the grass") == "A dog on the grass."
    assert postprocess("a man a man riding a elephant") == "A man riding an elephant."
    assert postprocess("") == ""
    assert postprocess(None) == ""  # type: ignore[arg-type]


def test_pipeline_is_configurable():
    assert postprocess("a dog", rules=["capitalise"]) == "A dog"
    assert postprocess("a dog", rules=[str.upper]) == "A DOG"
    assert list(DEFAULT_RULES)[-1] == "end_with_full_stop"
    assert set(DEFAULT_RULES) <= set(RULES)


def test_idempotent_on_clean_captions():
    for text in ["A dog on the grass.", "Two cats sleeping on a couch.", "A man's hat."]:
        assert postprocess(text) == text
        assert postprocess(postprocess(text + " " + text.lower())) == postprocess(text + " " + text.lower())


def test_gibberish_never_crashes():
    rnd = random.Random(0)
    alphabet = string.ascii_letters + string.punctuation + " " * 10 + "éß😀\t\n"
    for _ in range(500):
        s = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 60)))
        out = postprocess(s)
        assert isinstance(out, str)
        assert out == "" or out[-1] in ".?!"


def test_repeated_ngram_ratio():
    assert repeated_ngram_ratio("a dog on the grass") == 0.0
    assert repeated_ngram_ratio("a dog a dog a dog") > 0.5
    assert repeated_ngram_ratio("") == 0.0


def test_module_reachable_as_attribute():
    import mlcore

    assert mlcore.postprocess is pp_module  # the module is not shadowed by a function
    assert pp_module.postprocess("a dog") == "A dog."


def test_optional_grammar_correction_with_a_real_seq2seq_model(tmp_path, tiny_blip_dir, images, fresh_cache):
    """Off by default; when given, a transformers text2text model rewrites the caption."""
    from transformers import BartConfig, BartForConditionalGeneration

    from benchmarks.testing import _bpe_tokenizer
    from mlcore.postprocess import GrammarCorrector

    tok = _bpe_tokenizer()
    cfg = BartConfig(vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                     pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     decoder_start_token_id=tok.eos_token_id, forced_eos_token_id=None)
    BartForConditionalGeneration(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    gc = GrammarCorrector(str(tmp_path), max_new_tokens=6)
    fixed = gc.correct(["a dog on grass", "two cats"])
    assert len(fixed) == 2 and all(isinstance(f, str) and f for f in fixed)
    out = postprocess("arafed a dog dog", grammar=gc)
    assert out == "" or out.endswith(".")
    assert postprocess("a dog") == "A dog."  # default: no grammar model involved

    from mlcore import GenerationParams, load_captioner

    cap = load_captioner(tiny_blip_dir, grammar=str(tmp_path))
    assert isinstance(cap.grammar, GrammarCorrector) and load_captioner(tiny_blip_dir).grammar is None
    res = cap.caption(images[:2], GenerationParams(num_beams=2, max_length=6))
    assert len(res) == 2 and all(r.text == "" or r.text.endswith(".") for r in res)

    # the setting: MLCORE_GRAMMAR_MODEL turns it on for every model the registry loads
    import os

    from mlcore.config import reload_config

    os.environ["MLCORE_GRAMMAR_MODEL"] = str(tmp_path)
    try:
        reload_config()
        configured = load_captioner(tiny_blip_dir, dtype="float32")
        assert isinstance(configured.grammar, GrammarCorrector) and configured.grammar.model_id == str(tmp_path)
        assert configured.caption(images[:1], GenerationParams(num_beams=1, max_length=6))[0].text is not None
    finally:
        del os.environ["MLCORE_GRAMMAR_MODEL"]
        reload_config()
    assert load_captioner(tiny_blip_dir, dtype="float32").grammar is None
