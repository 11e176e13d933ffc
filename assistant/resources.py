"""Files shipped in the top-level `resources/` folder (prompts, icons, styles).

In a source checkout or editable install they sit beside the packages; in a PyInstaller bundle they
are unpacked under `sys._MEIPASS`.
"""

from __future__ import annotations

import sys
from pathlib import Path


def resource_path(*parts: str) -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    root = Path(bundle) if bundle else Path(__file__).resolve().parents[1]
    return root.joinpath("resources", *parts)


def read_text(*parts: str) -> str:
    return resource_path(*parts).read_text(encoding="utf-8")
