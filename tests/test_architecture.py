"""The directions imports may take (pyproject.toml's [tool.importlinter] contracts), checked by
import-linter on the real tree; and proof that the check catches a new import going the wrong
way, on a copy of the tree with one such import added."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_every_import_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    for name in ("apps", "workers", "config"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # services enqueue tasks by name; importing them closes the old circle
        ("apps/generation/services.py", "from . import tasks", "Generation: entry points"),
        # content listens for generation_succeeded; generation never calls content
        ("apps/generation/services.py", "from apps.content import services", "Apps depend"),
        # the storyboards package sits above the generation services
        ("apps/generation/services.py", "from .storyboards import running", "Generation: entry"),
        ("apps/generation/storyboards/planning.py", "from . import services", "Storyboards:"),
        ("workers/pipeline.py", "from apps.generation import models", "media pipeline"),
        ("apps/web/views/pages.py", "import torch", "Web-side code"),
    ],
)
def test_an_import_the_wrong_way_breaks_a_contract(tree_copy, module, line, broken):
    path = tree_copy / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(tree_copy)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    assert broken in result.stdout.split("Broken contracts", 1)[1], result.stdout
