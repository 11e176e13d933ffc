"""The core never imports Qt or the UI: checked by import-linter and by a direct scan."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("PySide6", "shiboken6", "ui")


def forbidden_imports(package: Path) -> list[str]:
    found = []
    for source in package.rglob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    found.append(f"{source.relative_to(package.parent)}: {name}")
    return found


def test_assistant_imports_no_qt_and_no_ui() -> None:
    assert forbidden_imports(ROOT / "assistant") == []


def test_the_scan_catches_a_violation(tmp_path: Path) -> None:
    package = tmp_path / "assistant"
    package.mkdir()
    (package / "bad.py").write_text("from PySide6.QtWidgets import QWidget\nimport ui.app\n")
    assert forbidden_imports(package) == [
        "assistant/bad.py: PySide6.QtWidgets",
        "assistant/bad.py: ui.app",
    ]


def test_import_linter_contract_holds() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is part of the dev dependencies"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout


def test_importing_the_core_loads_no_qt() -> None:
    code = "import sys, assistant, assistant.cli; print(any(m.startswith('PySide6') for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
