"""The dependency rules (tools/import_rules.py): they hold for the project, and each one fails
on a tree that breaks it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _rules() -> ModuleType:
    path = ROOT / "tools" / "import_rules.py"
    spec = importlib.util.spec_from_file_location("import_rules", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_rules"] = module
    spec.loader.exec_module(module)
    return module


rules = _rules()


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    base = {
        "src/axonize_core/__init__.py": "",
        "src/axonize_core/_span.py": "",
        "src/axonize_core/instrumentation.py": "from axonize_core._span import x\n",
        "plugins/axonize_good/__init__.py": "from axonize_core.instrumentation import unwrap\n",
        "backend/axonize_backend/__init__.py": "import axonize_core\n",
    }
    for rel, text in {**base, **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_project_keeps_its_rules() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "import_rules.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    assert rules.check(tree(tmp_path, {})) == []


@pytest.mark.parametrize(("files", "message"), [
    ({"plugins/axonize_bad/__init__.py": "from axonize_core._span import RECORDING\n"},
     "not its private modules"),
    ({"plugins/axonize_bad/__init__.py": "def f():\n    import axonize_core._log\n"},
     "not its private modules"),
    ({"plugins/axonize_bad/__init__.py": "from axonize_good import helper\n"},
     "plugins never import each other"),
    ({"plugins/axonize_bad/__init__.py": "import axonize_backend.app\n"},
     "a plugin imports no backend"),
    ({"src/axonize_core/_x.py": "from axonize_good import thing\n"},
     "axonize_core imports no plugin"),
    ({"src/axonize_core/_x.py": "def f():\n    import axonize_backend\n"},
     "axonize_core imports no backend"),
    ({"collector_processor/axonize_collector/__init__.py": "from axonize_backend import y\n"},
     "the collector imports no backend"),
])
def test_each_rule_fails_on_a_tree_that_breaks_it(tmp_path: Path, files: dict[str, str],
                                                  message: str) -> None:
    errors = rules.check(tree(tmp_path, files))
    assert len(errors) == 1 and message in errors[0], errors


def test_a_circle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    errors = rules.check(tree(tmp_path, {
        "backend/axonize_backend/ingest.py": "from axonize_backend.spans import Q\n",
        "backend/axonize_backend/spans.py": "def load():\n    from axonize_backend import ingest\n",
    }))
    assert len(errors) == 1
    assert "axonize_backend.ingest, axonize_backend.spans" in errors[0]


def test_imports_for_annotations_only_make_no_circle(tmp_path: Path) -> None:
    errors = rules.check(tree(tmp_path, {
        "src/axonize_core/_a.py": "from axonize_core._b import B\n",
        "src/axonize_core/_b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from axonize_core._a import A\n",
    }))
    assert errors == []


def test_the_command_names_what_is_broken(tmp_path: Path) -> None:
    root = tree(tmp_path, {"plugins/axonize_bad/__init__.py": "import axonize_core._log\n"})
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "import_rules.py"), str(root)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "axonize_bad imports axonize_core._log" in done.stdout
