"""The icons and the Linux .desktop entry that the installers ship (resources/)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from PySide6.QtGui import QImageReader

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICONS = RESOURCES / "icons"


def image_sizes(path: Path) -> list[int]:
    """The width of every image in an image file (ICO and ICNS hold several)."""
    reader = QImageReader(str(path))
    sizes = []
    count = reader.imageCount()
    for index in range(max(count, 1)):
        if count > 1:  # a single-image file refuses jumpToImage
            assert reader.jumpToImage(index)
        image = reader.read()
        assert not image.isNull(), f"{path.name} image {index}: {reader.errorString()}"
        assert image.width() == image.height()
        sizes.append(image.width())
    return sizes


@pytest.mark.parametrize("size", [16, 24, 32, 48, 64, 128, 256, 512])
def test_png_sizes_match_their_names(qapp: object, size: int) -> None:
    assert image_sizes(ICONS / f"mneme-{size}.png") == [size]


def test_windows_icon_holds_every_size_up_to_256(qapp: object) -> None:
    assert image_sizes(ICONS / "mneme.ico") == [16, 24, 32, 48, 64, 128, 256]


def test_macos_icon_holds_retina_sizes_up_to_1024(qapp: object) -> None:
    sizes = image_sizes(ICONS / "mneme.icns")
    assert {16, 32, 64, 128, 256, 512, 1024} <= set(sizes)


def test_desktop_entry_starts_mneme_with_its_icon() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(RESOURCES / "mneme.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Mneme"
    assert entry["Exec"].split()[0] == "mneme"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")
    # The icon theme name the AppImage script installs under usr/share/icons/hicolor/.
    assert entry["Icon"] == "mneme"
    assert (ICONS / f"{entry['Icon']}.svg").is_file()
