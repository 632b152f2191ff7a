"""mlcore must never import Django or a Django app (it runs in notebooks, scripts, workers)."""

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import mlcore

FORBIDDEN = ("django", "rest_framework", "captions", "accounts", "feedback", "captionsite", "django_q")
ROOT = Path(mlcore.__file__).parent


def all_modules():
    names = ["mlcore"]
    for info in pkgutil.walk_packages([str(ROOT)], prefix="mlcore."):
        names.append(info.name)
    return names


def test_source_has_no_django_imports():
    pattern = re.compile(r"^\s*(?:from|import)\s+(" + "|".join(FORBIDDEN) + r")\b", re.MULTILINE)
    offenders = []
    for path in ROOT.rglob("*.py"):
        for m in pattern.finditer(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT.parent)}: {m.group(0).strip()}")
    assert not offenders, offenders


def test_importing_every_module_loads_no_django():
    modules = all_modules()
    assert len(modules) > 8
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print('BAD', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True,
                          timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_is_light():
    code = "import sys, mlcore; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr
