"""The architecture is enforced: import layers (import-linter), no private names across modules,
and the kind registry as the only place that dispatches on a kind's name."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinyunfold import kinds

REPO = Path(__file__).resolve().parents[2]
LINT = REPO / ".ci" / "lint_imports.py"


def _sources() -> list[Path]:
    return sorted((REPO / "host" / "tinyunfold").rglob("*.py")) + sorted(
        (REPO / "codegen").rglob("*.py")
    )


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LINT), "--source", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy_tree(tmp: Path) -> Path:
    root = tmp / "checkout"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "host", root / "host", ignore=ignore)
    shutil.copytree(REPO / "codegen", root / "codegen", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_its_layers():
    res = _lint(REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # a model reaching up into the build tools (a layer far above it)
        ("models/nmf.py", "import tinyunfold.tools.build", "tinyunfold layers"),
        # the golden reference importing the code generator (one layer above it)
        ("golden/nmf.py", "from tinyunfold.codegen import generate", "tinyunfold layers"),
        # the NMF family importing the state-space family
        ("models/padnmf.py", "import tinyunfold.models.kalman", "NMF family does not import"),
    ],
)
def test_a_deliberate_violation_breaks_lint(tmp_path, module, line, contract):
    root = _copy_tree(tmp_path)
    path = root / "host" / "tinyunfold" / module
    path.write_text(path.read_text() + f"\n{line}  # deliberate layer violation\n")
    res = _lint(root)
    assert res.returncode != 0
    assert "BROKEN" in res.stdout and contract in res.stdout, res.stdout


def _module_of(path: Path) -> str:
    if path.is_relative_to(REPO / "codegen"):
        rel = ("codegen",) + path.relative_to(REPO / "codegen").with_suffix("").parts
    else:
        rel = path.relative_to(REPO / "host" / "tinyunfold").with_suffix("").parts
    return ".".join(("tinyunfold",) + tuple(p for p in rel if p != "__init__"))


def test_no_private_names_across_modules():
    bad = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinyunfold"):
                bad += [
                    f"{path.name}: from {node.module} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and a.name != "__version__"
                ]
    assert not bad, bad


def _kind_literal_dispatch(path: Path, names: set[str]) -> list[str]:
    """`x.kind == "padnmf"`, `kind in ("a", "b")`, `kind != "dkf"`: a test on a kind's name."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        about_kind = any(
            (isinstance(o, ast.Name) and o.id == "kind")
            or (isinstance(o, ast.Attribute) and o.attr == "kind")
            for o in operands
        )
        literals = {
            c.value
            for o in operands
            for c in ast.walk(o)
            if isinstance(c, ast.Constant) and isinstance(c.value, str)
        }
        if about_kind and literals & names:
            hits.append(f"{path.name}:{node.lineno}")
    return hits


def test_only_the_registry_dispatches_on_kind_names():
    names = set(kinds.REGISTRY)
    outside = [
        p for p in _sources() if not p.is_relative_to(REPO / "host" / "tinyunfold" / "kinds")
    ]
    hits = [h for p in outside for h in _kind_literal_dispatch(p, names)]
    assert not hits, f"kind dispatch outside tinyunfold.kinds: {hits}"


def test_the_dispatch_check_can_fail(tmp_path):
    f = tmp_path / "x.py"
    f.write_text(
        'def f(model, kind):\n    a = model.kind == "padnmf"\n    return kind in ("dkf",)\n'
    )
    assert _kind_literal_dispatch(f, set(kinds.REGISTRY)) == ["x.py:2", "x.py:3"]
