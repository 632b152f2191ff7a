"""gunicorn (25.1+) opens a control socket; by default at one path per user
($HOME/.gunicorn/gunicorn.ctl), so a second instance on the host would take it over. Ours is
per instance: VAR_DIR/gunicorn-<bound address>.ctl, or GUNICORN_CONTROL_SOCKET (`off`: none)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def printed_config(env: dict, *args: str) -> dict[str, str]:
    out = subprocess.run(
        [GUNICORN, "--print-config", "captionsite.asgi:application", "--config", "gunicorn.conf.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    return {name.strip(): value.strip() for name, _, value in (line.partition(" = ") for line in out.splitlines())}


def base_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_") and k not in ("PORT", "XDG_RUNTIME_DIR")}
    return {**env, "VAR_DIR": str(tmp_path / "var"), "HOME": str(tmp_path / "home")}


def test_the_control_socket_is_per_instance_under_var_dir(tmp_path):
    env = base_env(tmp_path)
    first = printed_config({**env, "PORT": "8001"})
    second = printed_config({**env, "GUNICORN_BIND": "127.0.0.1:8002"})
    assert first["control_socket"] == str(tmp_path / "var" / "gunicorn-0.0.0.0-8001.ctl")
    assert second["control_socket"] == str(tmp_path / "var" / "gunicorn-127.0.0.1-8002.ctl")
    assert first["control_socket_disable"] == "False"


def test_the_control_socket_can_be_named_or_switched_off(tmp_path):
    env = base_env(tmp_path)
    assert printed_config({**env, "GUNICORN_CONTROL_SOCKET": str(tmp_path / "c.ctl")})["control_socket"] == str(tmp_path / "c.ctl")
    assert printed_config({**env, "GUNICORN_CONTROL_SOCKET": "off"})["control_socket_disable"] == "True"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_instances_on_one_host_each_have_their_own_socket(tmp_path):
    """Real gunicorns, the address given on the command line (as scripts/run.sh does)."""
    env = {**base_env(tmp_path), "GUNICORN_WORKERS": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen([GUNICORN, "captionsite.asgi:application", "--config", "gunicorn.conf.py",
                          "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in ports
    ]
    sockets = [tmp_path / "var" / f"gunicorn-127.0.0.1-{port}.ctl" for port in ports]
    try:
        deadline = time.monotonic() + 60
        while not all(path.is_socket() for path in sockets) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(path.is_socket() for path in sockets), list((tmp_path / "var").iterdir())
        assert not (tmp_path / "home" / ".gunicorn").exists()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
