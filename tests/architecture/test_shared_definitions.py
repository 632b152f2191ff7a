"""One definition each: form fields take their ranges from mlcore's PARAM_RANGES, the command-line
parameter parser validates with GenerationParams, and the metrics hooks never fail a caller."""

import pytest
from django.core.management.base import CommandError

from captions.forms import UploadForm
from captions.params import generation_params_parse
from core import metrics as hooks
from feedback.forms import RecaptionForm
from mlcore.params import PARAM_RANGES


@pytest.mark.django_db  # the form checks style and language against the active model (a row)
@pytest.mark.parametrize("name", ["num_beams", "max_length"])
def test_upload_form_ranges_are_param_ranges(name):
    _, low, high, _ = PARAM_RANGES[name]
    assert UploadForm({name: str(low)}).is_valid() and UploadForm({name: str(high)}).is_valid()
    for bad in (low - 1, high + 1, "x"):
        form = UploadForm({name: str(bad)})
        assert not form.is_valid() and name in form.errors


def test_recaption_form_ranges_are_param_ranges():
    # Sampling: more alternatives than beams is allowed (the form checks the whole request now).
    valid = {"model_spec": "m", "num_beams": 1, "max_length": 5, "num_alternatives": 1, "do_sample": True}
    assert RecaptionForm(valid, model_choices=["m"]).is_valid()
    for name in ("num_beams", "max_length", "num_alternatives"):
        _, low, high, _ = PARAM_RANGES[name]
        assert RecaptionForm({**valid, name: high}, model_choices=["m"]).is_valid()
        form = RecaptionForm({**valid, name: high + 1}, model_choices=["m"])
        assert not form.is_valid() and name in form.errors
        form = RecaptionForm({**valid, name: low - 1}, model_choices=["m"])
        assert not form.is_valid() and name in form.errors


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["num_beams=11"], "num_beams"),
        (['{"top_p": 0}'], "top_p"),
        (["[1, 2]"], "expected key=value"),
        (['{"num_beams": '], "not valid JSON"),
        (['{"bogus": 1}'], "bogus"),
        (["num_beams"], "expected key=value"),
    ],
)
def test_command_line_params_are_validated_by_generation_params(values, message):
    with pytest.raises(CommandError, match=message):
        generation_params_parse(values)


def test_command_line_params_parse_both_forms():
    params = generation_params_parse(['{"num_beams": 2}', "max_length=30,do_sample=true"])
    assert (params.num_beams, params.max_length, params.do_sample) == (2, 30, True)


def test_a_failing_metrics_collector_never_fails_the_caller(caplog, monkeypatch):
    """Collectors are defined where they are recorded; one that raises (an exporter down, a bad
    label) is logged and the caller goes on."""
    from captions import metrics as caption_metrics

    class Broken:
        def observe(self, value):
            raise RuntimeError("exporter down")

        def labels(self, **labels):
            return self

        def inc(self, amount=1):
            raise RuntimeError("exporter down")

    monkeypatch.setattr(caption_metrics, "BATCH_SIZE", Broken())
    monkeypatch.setattr(caption_metrics, "CAPTION_FAILURES", Broken())
    caption_metrics.observe_batch(4)  # no exception
    caption_metrics.observe_failure("tiny/model", final=True)
    hooks.observe_http(view="gallery", method="GET", status=200, seconds=0.01)  # a working one still records
    assert [r.getMessage() for r in caplog.records if "Could not record" in r.getMessage()] == [
        "Could not record the batch size metric", "Could not record the failure metric"]
