"""No package of the site imports itself in a circle: every module's imports form a tree under
the layers, so a module can be read, imported and tested on its own. Found with grimp, the graph
import-linter builds (function-level imports count too: a lazy import is still an edge)."""

import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["mlcore", "core", "accounts", "captions", "feedback", "monitoring", "captionsite", "benchmarks"]


def import_cycles(graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


@pytest.fixture(scope="module")
def graph():
    sys.path.insert(0, str(ROOT))
    try:
        return grimp.build_graph(*PACKAGES, include_external_packages=False, exclude_type_checking_imports=True,
                                 cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))


def test_the_cycle_finder_finds_a_cycle():
    toy = grimp.ImportGraph()
    for module in ["a", "a.b", "a.c", "a.d"]:
        toy.add_module(module)
    toy.add_import(importer="a.b", imported="a.c")
    toy.add_import(importer="a.c", imported="a.b")
    toy.add_import(importer="a.d", imported="a.b")
    assert import_cycles(toy) == [["a.b", "a.c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(graph, package):
    cycles = [cycle for cycle in import_cycles(graph) if any(m.split(".")[0] == package for m in cycle)]
    assert cycles == [], f"import cycles in {package}: {cycles}"


def test_no_service_is_re_exported_from_the_services_package(graph):
    """Services are imported from their module (captions.services.submission, ...), never through
    a re-export facade: the package imports none of its modules."""
    assert graph.find_modules_directly_imported_by("captions.services") == set()
