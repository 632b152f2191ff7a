"""The model catalogue (mlcore.catalog): the one home of model knowledge. A model of a known family
is one entry; what any model, ensemble or fallback chain can write is answered from it, the same
way by the web process (mlcore.capabilities, nothing loaded) and by the loaded captioner."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from mlcore import GenerationParams, load_captioner
from mlcore.capabilities import check_spec_style, spec_capabilities
from mlcore.catalog import FAMILIES, MODELS, Capabilities, ModelEntry, add_model, model_types, remove_model
from mlcore.config import reload_config
from mlcore.errors import ModelLoadError
from mlcore.predictors.ensemble import EnsembleCaptioner
from mlcore.registry import REGISTRY, VLM_REGISTRY, offered_models, resolve_spec
from mlcore.styles import UnsupportedStyle, register_style, unregister_style

ROOT = Path(__file__).resolve().parents[2]
SHORT = GenerationParams(num_beams=1, max_length=6, min_length=2)


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCORE_HF_CACHE", str(tmp_path / "empty-hub-cache"))
    reload_config()


@pytest.fixture
def custom_styles():
    register_style("museum-line", "Write a museum label line in {language}.", max_chars=100)
    register_style("museum-para", "Describe this artwork for a museum label in {language}.", max_chars=300,
                   kind="paragraph")
    yield "museum-line", "museum-para"
    unregister_style("museum-line")
    unregister_style("museum-para")


def test_every_entry_has_a_known_family_and_every_family_a_predictor():
    for name, entry in MODELS.items():
        assert entry.family.name in FAMILIES and entry.name == name
        assert entry.hub_id or entry.family.predictor == "inhouse"
    assert {f.predictor for f in FAMILIES.values()} == {"hf", "vlm", "inhouse", "openai"}
    # the registry's tables are views of the catalogue, not copies
    assert dict(REGISTRY) == {n: e.hub_id for n, e in MODELS.items() if e.hub_id}
    assert set(VLM_REGISTRY) == {n for n, e in MODELS.items() if e.family.predictor == "vlm"}
    with pytest.raises(ValueError, match="unknown model_type"):
        ModelEntry("new-arch", "org/new-arch", "some_new_architecture")


def test_a_model_of_a_known_family_is_one_catalogue_entry(tiny_blip_dir, tmp_path, monkeypatch, images, fresh_cache,
                                                          empty_hub_cache):
    entry = add_model(ModelEntry("blip-tiny-test", "example-org/blip-tiny-test", "blip"))
    try:
        # Known before any file is here: the registry resolves it, the web process can answer for it.
        assert REGISTRY["blip-tiny-test"] == "example-org/blip-tiny-test" and "blip-tiny-test" in offered_models()
        assert resolve_spec("blip-tiny-test").model_id == "example-org/blip-tiny-test"
        caps = spec_capabilities("blip-tiny-test")
        assert (caps.styles, caps.languages, caps.known) == ({"alt"}, {"en"}, True)
        with pytest.raises(UnsupportedStyle) as exc:
            check_spec_style("blip-tiny-test", GenerationParams(style="tags"))
        assert exc.value.field == "style" and "it takes no prompt" in exc.value.message
        # Its files where an operator puts them ($MLCORE_MODELS_DIR/<name>): it loads and captions.
        shutil.copytree(tiny_blip_dir, tmp_path / "models" / "blip-tiny-test")
        monkeypatch.setenv("MLCORE_MODELS_DIR", str(tmp_path / "models"))
        reload_config()
        cap = load_captioner("blip-tiny-test", dtype="float32")
        assert cap.family == "blip" and cap.capabilities() == entry.capabilities
        result = cap.caption(images[:1], SHORT)[0]
        assert result.ok and (result.style, result.language) == ("alt", "en")
        with pytest.raises(UnsupportedStyle):
            cap.caption(images[:1], GenerationParams(style="alt", language="de"))
    finally:
        remove_model("blip-tiny-test")
    assert "blip-tiny-test" not in REGISTRY
    with pytest.raises(ModelLoadError):
        resolve_spec("blip-tiny-test")


def test_florence2_follows_task_tokens_so_custom_styles_are_refused_everywhere(custom_styles, empty_hub_cache):
    """One truth for Florence-2: the built-in styles that have a task token (alt, description), English only.
    The web process's answer and the loaded captioner's refusal come from the same family record."""
    line, para = custom_styles
    record = FAMILIES["florence2"]
    assert record.prompt == "task-token" and record.capabilities.styles == {"alt", "description"}
    assert spec_capabilities("florence-2-base").styles == {"alt", "description"}
    for style in (line, para, "tags"):
        with pytest.raises(UnsupportedStyle) as exc:
            check_spec_style("florence-2-large", GenerationParams(style=style))
        assert exc.value.field == "style" and "Florence-2 follows task tokens, not free prompts" in exc.value.message
        assert exc.value.supported == {"alt", "description"}
    check_spec_style("florence-2-base", GenerationParams(style="description"))
    # the class and module docstrings say the same
    from mlcore.predictors import vlm

    for doc in (vlm.__doc__, vlm.VLMCaptioner.__doc__):
        assert "custom styles are refused" in " ".join(doc.split())


def test_a_loaded_florence2_refuses_custom_styles_with_the_catalogue_reason(custom_styles, tmp_path, fresh_cache):
    from benchmarks.testing_vlm import VLM_BUILDERS

    line, para = custom_styles
    cap = load_captioner(str(VLM_BUILDERS["florence2"](tmp_path / "florence")), dtype="float32")
    assert cap.capabilities() == FAMILIES["florence2"].capabilities
    for style in (line, para, "tags"):
        with pytest.raises(UnsupportedStyle) as exc:
            cap.check_style(GenerationParams(style=style))
        assert "Florence-2 follows task tokens, not free prompts" in exc.value.message
        assert exc.value.supported == {"alt", "description"}


def test_an_ensemble_of_vlms_writes_tags_and_german_when_every_member_can(tiny_vlm_dir, tiny_blip_dir, images,
                                                                          fresh_cache):
    vlm_a = load_captioner(tiny_vlm_dir, dtype="float32")
    vlm_b = load_captioner(tiny_vlm_dir, dtype="bfloat16")
    assert vlm_a is not vlm_b
    ensemble = EnsembleCaptioner([vlm_a, vlm_b])
    assert ensemble.capabilities().styles is None and ensemble.capabilities().languages is None
    params = GenerationParams(num_beams=1, max_length=5, min_length=2, style="tags", language="de")
    ensemble.check_style(params)
    results = ensemble.caption(images[:1], params)
    assert results[0].style == "tags" and results[0].language == "de" and isinstance(results[0].tags, list)
    # with a prompt-less member it writes only what that member can: refused, naming the member
    blip = load_captioner(tiny_blip_dir, dtype="float32")
    mixed = EnsembleCaptioner([vlm_a, blip])
    assert mixed.capabilities().styles == {"alt"} and mixed.capabilities().languages == {"en"}
    with pytest.raises(UnsupportedStyle) as exc:
        mixed.caption(images[:1], params)
    assert f"its member {blip.model_id} cannot" in exc.value.message
    # the same answer as the web process's, for the same members
    assert spec_capabilities(f"ensemble:{tiny_vlm_dir},{tiny_vlm_dir}").styles is None
    assert spec_capabilities(f"ensemble:{tiny_vlm_dir},{tiny_blip_dir}").styles == {"alt"}


def test_a_fallback_chain_writes_what_any_member_can_and_refuses_before_loading(tiny_vlm_dir, tiny_blip_dir,
                                                                                fresh_cache):
    chain = load_captioner(f"fallback:{tiny_blip_dir}|{tiny_vlm_dir}")
    assert chain.capabilities().styles is None  # the VLM member can write any style
    chain.check_style(GenerationParams(style="tags", language="de"))
    only_blip = load_captioner(f"fallback:{tiny_blip_dir}|{tiny_blip_dir}")
    with pytest.raises(UnsupportedStyle):
        only_blip.check_style(GenerationParams(style="tags"))
    assert only_blip._loaded == {}  # nothing was loaded to answer
    assert Capabilities.any_of([FAMILIES["blip"].capabilities, FAMILIES["florence2"].capabilities]).styles == {
        "alt", "description"}


def test_the_inhouse_entry_is_offered_only_where_a_trained_checkpoint_exists(tiny_inhouse_dir, tmp_path,
                                                                             monkeypatch, images, fresh_cache):
    assert MODELS["inhouse"].family.predictor == "inhouse" and MODELS["inhouse"].hub_id is None
    monkeypatch.setenv("MLCORE_MODELS_DIR", str(tmp_path / "no-models"))
    reload_config()
    assert "inhouse" not in offered_models() and "inhouse" not in REGISTRY
    with pytest.raises(ModelLoadError) as exc:
        load_captioner("inhouse")
    assert "MLCORE_MODEL_INHOUSE" in exc.value.reason and "train_inhouse" in exc.value.reason
    # a folder that is not a trained checkpoint is not offered either
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MLCORE_MODEL_INHOUSE", str(tmp_path / "empty"))
    reload_config()
    assert "inhouse" not in offered_models()
    monkeypatch.setenv("MLCORE_MODEL_INHOUSE", tiny_inhouse_dir)
    reload_config()
    assert "inhouse" in offered_models()
    assert spec_capabilities("inhouse").styles == {"alt"}
    cap = load_captioner("inhouse")
    assert cap.kind == "inhouse" and cap.family == "inhouse"
    result = cap.caption(images[:1], SHORT)[0]
    assert result.model_id == tiny_inhouse_dir and result.style == "alt"
    with pytest.raises(UnsupportedStyle):
        cap.caption(images[:1], GenerationParams(style="tags"))


RUNTIME_PACKAGES = ("mlcore", "captions", "feedback", "monitoring", "core", "accounts", "captionsite")


def _runtime_modules():
    for package in RUNTIME_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _strings(nodes) -> set[str]:
    return {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_the_catalogue_is_the_one_table_of_model_knowledge():
    """No other runtime module keeps a table that names catalogue hub ids or maps model types to names."""
    hub_ids = {e.hub_id for e in MODELS.values() if e.hub_id}
    types = set(model_types())
    offenders = []
    for path in _runtime_modules():
        if path == ROOT / "mlcore" / "catalog.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.Dict, ast.Set, ast.List, ast.Tuple)):
                continue
            if isinstance(node, ast.Dict):  # a name -> name table keyed or valued by hub ids / model types
                keys, values = _strings(node.keys), _strings(node.values)
                if len(values) != len(node.values) or not values:
                    continue  # values are code (builders, classes): not a table of model knowledge
                if keys & hub_ids or values & hub_ids or len(keys & types) >= 2:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            elif len(_strings(node.elts) & hub_ids) >= 2 or len(_strings(node.elts) & types) >= 2:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
