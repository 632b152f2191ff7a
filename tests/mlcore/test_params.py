import dataclasses
import json

import pytest

from mlcore import GenerationParams, InvalidParams


def test_defaults():
    p = GenerationParams()
    assert (p.num_beams, p.max_length, p.repetition_penalty) == (3, 40, 1.2)
    assert p.do_sample is False and p.num_alternatives == 1


@pytest.mark.parametrize(
    "field,value",
    [
        ("num_beams", 0), ("num_beams", 11),
        ("max_length", 4), ("max_length", 101),
        ("min_length", -1),
        ("temperature", 0.09), ("temperature", 2.01),
        ("top_p", 0.0), ("top_p", 1.01),
        ("repetition_penalty", 0.99), ("repetition_penalty", 2.1),
        ("length_penalty", 5.0), ("length_penalty", -3.0),
        ("no_repeat_ngram_size", -1), ("no_repeat_ngram_size", 11),
        ("num_alternatives", 0), ("num_alternatives", 6),
    ],
)
def test_out_of_range_names_the_field(field, value):
    kwargs = {field: value}
    if field == "num_alternatives":
        kwargs["do_sample"] = True
    with pytest.raises(InvalidParams) as exc:
        GenerationParams(**kwargs)
    assert exc.value.field == field
    assert field in str(exc.value)
    assert isinstance(exc.value, ValueError)
    assert exc.value.message


@pytest.mark.parametrize(
    "field,value",
    [
        ("num_beams", "abc"), ("num_beams", True), ("num_beams", 2.5), ("num_beams", None),
        ("max_length", "40"), ("temperature", "hot"), ("temperature", False),
        ("temperature", float("nan")), ("top_p", [0.5]), ("do_sample", 1), ("do_sample", "yes"),
    ],
)
def test_wrong_types(field, value):
    with pytest.raises(InvalidParams) as exc:
        GenerationParams(**{field: value})
    assert exc.value.field == field


def test_boundaries_are_accepted():
    GenerationParams(num_beams=1, num_alternatives=1, max_length=5, min_length=5, temperature=0.1, top_p=1.0,
                     repetition_penalty=1.0, no_repeat_ngram_size=0)
    GenerationParams(num_beams=10, max_length=100, min_length=0, temperature=2.0, top_p=0.01,
                     repetition_penalty=2.0, no_repeat_ngram_size=10, num_alternatives=5)


def test_min_length_not_above_max_length():
    with pytest.raises(InvalidParams) as exc:
        GenerationParams(max_length=10, min_length=11)
    assert exc.value.field == "min_length"


def test_alternatives_limited_by_beams_unless_sampling():
    with pytest.raises(InvalidParams) as exc:
        GenerationParams(num_beams=2, num_alternatives=3)
    assert exc.value.field == "num_alternatives"
    assert GenerationParams(num_beams=1, do_sample=True, num_alternatives=5).num_candidates == 5
    assert GenerationParams(num_beams=4, num_alternatives=2).num_candidates == 4


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        GenerationParams().num_beams = 5  # type: ignore[misc]


def test_from_dict_roundtrip_and_unknown_key():
    p = GenerationParams.from_dict({"num_beams": 5, "temperature": 1, "num_alternatives": 2})
    assert p.temperature == 1.0 and isinstance(p.temperature, float)
    assert GenerationParams.from_dict(p.to_dict()) == p
    assert GenerationParams.from_dict({}) == GenerationParams()
    with pytest.raises(InvalidParams) as exc:
        GenerationParams.from_dict({"beam_size": 3})
    assert exc.value.field == "beam_size"
    with pytest.raises(InvalidParams):
        GenerationParams.from_dict(["num_beams"])  # type: ignore[arg-type]


def test_cache_key_stable_and_sensitive():
    a = GenerationParams(temperature=1)
    b = GenerationParams.from_dict({"temperature": 1.0})
    assert a.cache_key() == b.cache_key() == GenerationParams().cache_key()
    assert a.cache_key() != GenerationParams(num_beams=4).cache_key()
    assert a.cache_key() != GenerationParams(repetition_penalty=1.3).cache_key()
    # a fixed, documented form: version prefix + canonical JSON
    prefix, _, body = a.cache_key().partition(":")
    # the alt-text request fields appear only when set, so keys of requests without them stay as before
    unset = {"purpose": "informative", "context": "", "action": "", "ocr": ""}
    assert prefix == "gp1" and json.loads(body) == {k: v for k, v in a.to_dict().items() if k not in unset}
    assert a.cache_key() != GenerationParams(context="A shop's product page").cache_key()
    assert a.cache_key() != GenerationParams(purpose="functional").cache_key()
    assert (GenerationParams(purpose="functional", action="Open the cart").cache_key()
            != GenerationParams(purpose="functional").cache_key())
    assert a.cache_key() != GenerationParams(ocr="on").cache_key()


def test_to_dict_is_json_and_replace_validates():
    p = GenerationParams()
    json.dumps(p.to_dict())
    assert p.replace(num_beams=5).num_beams == 5
    with pytest.raises(InvalidParams):
        p.replace(num_beams=50)


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(InvalidParams) as caught:
        GenerationParams(max_length=-5, num_beams=0, temperature="hot", top_p=3.0, style="sonnet")
    error = caught.value
    assert set(error.errors) == {"max_length", "num_beams", "temperature", "top_p", "style"}
    assert "between 5 and 100" in error.errors["max_length"] and "number" in error.errors["temperature"]
    assert (error.field, error.message) == next(iter(error.errors.items()))  # the first, as before


def test_cross_field_rules_are_reported_beside_range_errors_when_their_fields_are_valid():
    with pytest.raises(InvalidParams) as caught:
        GenerationParams(min_length=60, max_length=50, temperature=0)
    assert set(caught.value.errors) == {"min_length", "temperature"}
    with pytest.raises(InvalidParams) as caught:  # max_length itself bad: no min/max comparison
        GenerationParams(min_length=60, max_length=500)
    assert set(caught.value.errors) == {"max_length"}
