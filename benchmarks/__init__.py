"""The workbench: speed and memory benchmarks, published model shapes with random weights, and the
tiny random models the tests and benchmarks build. Not part of the runtime: `mlcore` and the Django
apps never import it (an import-linter contract checks that); `manage.py benchmark` is a thin
command over it.

| module | what |
|---|---|
| `bench.py` | `python -m benchmarks.bench`: the naive path vs the product's captioner, same images |
| `bench_models.py` | `python -m benchmarks.bench_models`: each registry model at its published shape, random weights |
| `bench_shapes.py` | the published shapes (config values, processor resolution, parameter counts) of every registry model |
| `worker_path.py` | `manage.py benchmark --worker-path`: plain transformers against submit + the worker |
| `testing.py`, `testing_vlm.py` | tiny random models and photo-like test images (tests and benchmarks) |
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder that holds mlcore/ and benchmarks/
