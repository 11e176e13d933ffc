"""Files shipped in the top-level `resources/` folder (prompts, icons, styles).

Where they are, first match wins:
- a PyInstaller bundle: unpacked under `sys._MEIPASS`;
- a source checkout or editable install: beside the packages;
- an installed wheel (`pip install .`): `<prefix>/share/mneme/resources`, where pyproject.toml's
  `data-files` puts them (the environment's prefix, or the user base for `pip install --user`).
"""

from __future__ import annotations

import functools
import site
import sys
import sysconfig
from pathlib import Path


def resource_path(*parts: str) -> Path:
    return resource_root().joinpath(*parts)


def read_text(*parts: str) -> str:
    return resource_path(*parts).read_text(encoding="utf-8")


@functools.cache
def resource_root() -> Path:
    """The `resources` folder (found once per process)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    beside = Path(__file__).resolve().parents[1] / "resources"
    installed = [
        Path(base) / "share" / "mneme" / "resources"
        for base in (sysconfig.get_path("data"), site.getuserbase())
    ]
    # A file every copy has, so a stray top-level "resources" folder of another package in
    # site-packages is not taken for ours. When none has it, the checkout location: the error
    # then names where the files were expected.
    found = (f for f in [beside, *installed] if (f / "prompts" / "system.md").is_file())
    return next(found, beside)
