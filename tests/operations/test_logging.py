"""LOG_FORMAT=json: every log line the site writes is one JSON object."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

LOG_SOMETHING = """
import django, logging
django.setup()
from core import logs
log = logging.getLogger("captions.services")
token = logs.bind_request_id("req-7")
log.warning("Captioned %d images", 3, extra={"batch": 12})
logs.unbind_request_id(token)
try:
    1 / 0
except ZeroDivisionError:
    log.exception("The model failed")
"""


def run_with_log_format(log_format: str, tmp_path) -> list[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.settings", "LOG_FORMAT": log_format,
           "VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", LOG_SOMETHING], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def test_json_logs_are_one_object_per_line_with_request_id_and_extras(tmp_path):
    lines = run_with_log_format("json", tmp_path)
    entries = [json.loads(line) for line in lines]  # every line parses
    first, second = entries
    assert first["message"] == "Captioned 3 images"
    assert first["level"] == "WARNING"
    assert first["logger"] == "captions.services"
    assert first["request_id"] == "req-7"
    assert first["batch"] == 12
    assert "request_id" not in second
    assert "ZeroDivisionError" in second["exception"]


def test_plain_logs_carry_the_request_id_too(tmp_path):
    lines = run_with_log_format("plain", tmp_path)
    assert "WARNING captions.services [req-7] Captioned 3 images" in lines[0]
    assert "[-] The model failed" in lines[1]
