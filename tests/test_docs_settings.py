"""The configuration reference (docs/configuration.md) and .env.example name every environment
variable that captionsite/settings.py and mlcore/config.py read, and nothing they do not (so they
cannot drift); the README's short table names only variables that exist."""

import ast
import re
from pathlib import Path

import mlcore.config

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
MLCORE_READERS = {"text", "positive_int", "flag", "number"}  # MLCoreConfig.from_environ's helpers


def _first_string_args(path: Path, accept) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str) and NAME.match(node.args[0].value) and accept(node.func)):
            names.add(node.args[0].value)
    return names


def _is_env_read(func) -> bool:
    # env("X"), env.int("X"), env.db("X"), os.environ.get("X"), os.getenv("X")
    if isinstance(func, ast.Name):
        return func.id in {"env", "getenv"}
    if isinstance(func, ast.Attribute):
        base = func.value
        return (isinstance(base, ast.Name) and base.id in {"env", "os"}) or (
            isinstance(base, ast.Attribute) and base.attr == "environ")
    return False


def settings_names() -> set[str]:
    return _first_string_args(ROOT / "captionsite" / "settings.py", _is_env_read)


def mlcore_names() -> set[str]:
    names = _first_string_args(Path(mlcore.config.__file__),
                               lambda f: isinstance(f, ast.Name) and f.id in MLCORE_READERS)
    return names | {f"{mlcore.config._MODEL_PREFIX}<NAME>"}


def _table_names(path: Path, heading: str) -> set[str]:
    text = path.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*(?:<NAME>|\*)?)`", line.split(" | ")[0]))
    return names


def reference_names() -> set[str]:
    return _table_names(ROOT / "docs" / "configuration.md", "Configuration")


def readme_names() -> set[str]:
    return _table_names(ROOT / "README.md", "Configuration")


def env_example_names() -> set[str]:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    return {m.group(1) for line in lines if (m := re.match(r"^#? ?([A-Z][A-Z0-9_]*(?:<NAME>)?)=", line))}


def _covered(name: str, documented: set[str]) -> bool:
    return name in documented or any(d.endswith("*") and name.startswith(d[:-1]) for d in documented)


def test_the_readers_are_found():  # the extraction itself: a regression here would make the rest vacuous
    assert {"SECRET_KEY", "DATABASE_URL", "CAPTION_TASK_BUDGET_SECONDS", "MAX_IMAGE_ASPECT_RATIO"} <= settings_names()
    assert {"MLCORE_MAX_BATCH", "MLCORE_OPENAI_API_KEY", "HF_HUB_OFFLINE", "MLCORE_MODEL_<NAME>"} <= mlcore_names()
    assert len(settings_names()) > 60


def test_configuration_reference_names_every_variable_read():
    documented = reference_names()
    missing = sorted(n for n in settings_names() | mlcore_names() if not _covered(n, documented))
    assert missing == [], f"not in docs/configuration.md's table: {missing}"


def test_readme_names_only_variables_of_the_reference():
    assert readme_names(), "README's Configuration section has no table"
    assert sorted(n for n in readme_names() if not _covered(n, reference_names())) == []


def test_env_example_lists_every_variable_read():
    listed = env_example_names()
    missing = sorted(n for n in settings_names() | mlcore_names() if n not in listed)
    assert missing == [], f"not in .env.example: {missing}"


def test_nothing_documented_is_unread():
    read = settings_names() | mlcore_names()
    # Read by other programs, not by settings.py or mlcore: gunicorn.conf.py, Hugging Face, prometheus-client.
    elsewhere = {"GUNICORN_WORKER_CLASS", "GUNICORN_CONTROL_SOCKET", "HF_HOME", "PROMETHEUS_MULTIPROC_DIR"}
    documented = {n for n in reference_names() | readme_names() | env_example_names() if not n.endswith("*")}
    assert sorted(documented - read - elsewhere) == []
