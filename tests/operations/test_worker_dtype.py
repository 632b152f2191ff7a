"""The dtype a worker chose (auto: bf16 on CUDA / AMX / AVX512-BF16 CPUs, else fp32) is recorded by
its heartbeat and shown on the dashboard; CAPTION_DTYPE=float32 keeps exact fp32."""

import importlib

import pytest

from mlcore.hfutils import resolve_dtype_with_reason
from monitoring import services
from monitoring.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def test_the_site_default_dtype_is_auto(monkeypatch):
    import captionsite.settings as site_settings

    monkeypatch.delenv("CAPTION_DTYPE", raising=False)
    monkeypatch.delenv("MLCORE_DTYPE", raising=False)
    try:
        assert importlib.reload(site_settings).CAPTION_DTYPE == "auto"
        monkeypatch.setenv("CAPTION_DTYPE", "float32")
        assert importlib.reload(site_settings).CAPTION_DTYPE == "float32"
    finally:
        monkeypatch.delenv("CAPTION_DTYPE", raising=False)
        importlib.reload(site_settings)


def test_the_heartbeat_records_the_auto_choice_and_the_dashboard_shows_it(client, make_user, tiny_model, settings):
    settings.CAPTION_DTYPE = "auto"
    expected, reason = resolve_dtype_with_reason("auto", "cpu")  # what this machine's CPU gets

    heartbeat = services.worker_heartbeat_record(check_model=True, worker_id="host-1:42")

    assert heartbeat.model_ok is True
    stored = WorkerHeartbeat.objects.get(worker_id="host-1:42").model_info
    assert stored["dtype"] == expected
    assert stored["dtype_reason"] == reason and reason.startswith("auto: ")
    assert stored["device"] == "cpu"
    client.force_login(make_user("boss@example.com", is_staff=True, perms=["monitoring.view_operations"]))
    page = client.get("/dashboard/").content.decode()
    block = page[page.index('id="worker-dtypes"'):]
    block = block[: block.index("</dd>")]
    assert "host-1:42" in block and f"<strong>{expected}</strong>" in block and reason in block


def test_float32_keeps_exact_fp32_and_the_dashboard_says_so(client, make_user, tiny_model, settings):
    settings.CAPTION_DTYPE = "float32"

    services.worker_heartbeat_record(check_model=True, worker_id="host-2:7")

    info = WorkerHeartbeat.objects.get(worker_id="host-2:7").model_info
    assert info["dtype"] == "float32" and info["dtype_reason"] == "explicit"
    client.force_login(make_user("boss@example.com", is_staff=True, perms=["monitoring.view_operations"]))
    page = client.get("/dashboard/").content.decode()
    assert "<strong>float32</strong>" in page


def test_a_worker_that_cannot_load_the_model_reports_no_dtype(client, make_user, settings, tmp_path):
    settings.CAPTION_MODEL = str(tmp_path / "missing-model")

    heartbeat = services.worker_heartbeat_record(check_model=True, worker_id="host-3:1")

    assert heartbeat.model_ok is False and heartbeat.model_info == {}
    client.force_login(make_user("boss@example.com", is_staff=True, perms=["monitoring.view_operations"]))
    page = client.get("/dashboard/").content.decode()
    assert "no worker has reported its model yet" in page
