"""The deployment files. Docker cannot run on this machine (no engine), so the image and the
compose file are checked by reading them; gunicorn's config, the health check and
`check --deploy` are run for real."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "captionsite.settings",
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "captions.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://captions.example.com",
    "BEHIND_TLS_PROXY": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def manage(*args, env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "DJANGO_", "DEBUG"))}
    clean.update({"VAR_DIR": str(tmp_path / "var")}, **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_with_production_variables(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stderr


def test_check_deploy_does_warn_without_them(tmp_path):
    """The test above means something: the same check fails on the development defaults."""
    env = {"DJANGO_SETTINGS_MODULE": "captionsite.settings", "DEBUG": "true", "SECRET_KEY": "short"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012", "security.W016", "security.W018"):
        assert warning in result.stderr


def test_gunicorn_accepts_its_configuration_and_the_app():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.settings", "LOG_FORMAT": "json"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("gunicorn")), "--check-config", "captionsite.asgi:application", "--config", "gunicorn.conf.py"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_procfile_declares_web_worker_and_release():
    lines = dict(
        line.split(":", 1) for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line.strip() and not line.startswith("#")
    )
    assert "gunicorn captionsite.asgi:application --config gunicorn.conf.py" in lines["web"]
    assert "${PORT" in lines["web"]
    assert lines["worker"].strip() == "python manage.py qcluster"
    assert lines["release"].strip() == "python manage.py migrate --noinput && python manage.py setup_schedules"


def dockerfile_stages() -> list[list[str]]:
    text = (REPO_ROOT / "Dockerfile").read_text()
    instructions = [line for line in re.sub(r"\\\n\s*", " ", text).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    stages: list[list[str]] = []
    for instruction in instructions:
        if instruction.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(instruction)
    return stages


def test_dockerfile_is_multi_stage_and_the_image_runs_without_root():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    assert any("collectstatic" in line for line in build), "collectstatic runs in the build"
    assert any(line.startswith("COPY --from=build") for line in runtime)
    assert not any("pip install" in line for line in runtime), "the runtime stage installs nothing"
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the last USER is not root"
    assert any(line.startswith("HEALTHCHECK") and "monitoring.healthcheck" in line for line in runtime)
    assert any(line.startswith("EXPOSE 8000") for line in runtime)
    assert any(line.startswith("CMD") and "gunicorn" in line and "gunicorn.conf.py" in line for line in runtime)


def test_the_torch_pin_the_dockerfile_reads_is_in_requirements():
    pins = [line for line in (REPO_ROOT / "requirements.txt").read_text().splitlines() if re.match(r"^torch==", line)]
    assert len(pins) == 1


def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def test_compose_runs_web_worker_postgres_and_redis():
    services = compose()["services"]
    assert {"web", "worker", "postgres", "redis"} <= set(services)
    web, worker = services["web"], services["worker"]
    assert worker["command"] == ["python", "manage.py", "qcluster"]
    assert "command" not in web  # the image's CMD: gunicorn
    for app in (web, worker):
        assert app["build"] == "."
        assert {"media:/data/media", "hf-cache:/data/hf-cache"} <= set(app["volumes"])
        assert app["env_file"][0]["path"] == ".env"
        assert app["environment"]["DATABASE_URL"].startswith("postgres://")
        assert app["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == [
        "sh", "-c", "python manage.py migrate --noinput && python manage.py setup_schedules"
    ]
    # web and worker share the metric files, so /metrics adds up both
    assert web["environment"]["PROMETHEUS_MULTIPROC_DIR"] == worker["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert {"media", "hf-cache", "pgdata", "redisdata", "metrics"} <= set(compose()["volumes"])


def test_render_blueprint_wires_database_redis_and_health_check():
    blueprint = yaml.safe_load((REPO_ROOT / "render.yaml").read_text())
    web = next(s for s in blueprint["services"] if s["type"] == "web")
    assert web["runtime"] == "docker"
    assert web["healthCheckPath"] == "/health/"
    assert "migrate" in web["preDeployCommand"] and "setup_schedules" in web["preDeployCommand"]
    assert "qcluster" in web["dockerCommand"] and "gunicorn" in web["dockerCommand"]
    env = {item["key"]: item for item in web["envVars"]}
    assert env["DATABASE_URL"]["fromDatabase"]["name"] == blueprint["databases"][0]["name"]
    redis = next(s for s in blueprint["services"] if s["type"] == "keyvalue")
    assert env["REDIS_URL"]["fromService"]["name"] == redis["name"]
    assert env["SECRET_KEY"] == {"key": "SECRET_KEY", "generateValue": True}
    for key in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "BEHIND_TLS_PROXY"):
        assert env[key]["value"] == "true"


@pytest.mark.parametrize("allowed_hosts, expected", [("", "localhost"), ("*", "localhost"), (".example.com,x", "example.com"), ("a.org", "a.org")])
def test_the_health_check_sends_a_host_the_site_accepts(monkeypatch, allowed_hosts, expected):
    from monitoring import healthcheck

    monkeypatch.setenv("ALLOWED_HOSTS", allowed_hosts)
    assert healthcheck.host_header() == expected


def test_the_health_check_fails_when_nothing_answers(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "monitoring.healthcheck"], cwd=REPO_ROOT,
        env={**os.environ, "PORT": str(free_port)}, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert "unhealthy" in result.stderr


def test_the_build_context_leaves_out_local_environments_data_and_secrets():
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".env", "var/", ".git", "staticfiles/"} <= ignored
