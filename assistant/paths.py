"""Where Mneme keeps its files.

`MNEME_HOME` overrides everything (tests point it at a temporary folder; a user can use it for a
portable profile). Otherwise the platform's conventional folders come from platformdirs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "mneme"
HOME_ENV = "MNEME_HOME"


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    config_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "mneme.db"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    def ensure(self) -> None:
        """Create the folders (owner-only where the OS honours it). Side effect: mkdir."""
        for folder in (self.data_dir, self.config_dir, self.cache_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def as_dict(self) -> dict[str, str]:
        return {
            "data_dir": str(self.data_dir),
            "config_dir": str(self.config_dir),
            "cache_dir": str(self.cache_dir),
            "log_dir": str(self.log_dir),
            "database": str(self.database),
            "models_dir": str(self.models_dir),
            "config_file": str(self.config_file),
        }


def resolve_paths(home: str | os.PathLike[str] | None = None) -> Paths:
    """The paths for `home`, else `$MNEME_HOME`, else the platform defaults."""
    chosen = home if home is not None else os.environ.get(HOME_ENV) or None
    if chosen is not None:
        root = Path(chosen).expanduser().resolve()
        return Paths(root / "data", root / "config", root / "cache", root / "logs")
    return Paths(
        data_dir=platformdirs.user_data_path(APP_NAME, appauthor=False),
        config_dir=platformdirs.user_config_path(APP_NAME, appauthor=False),
        cache_dir=platformdirs.user_cache_path(APP_NAME, appauthor=False),
        log_dir=platformdirs.user_log_path(APP_NAME, appauthor=False),
    )
