"""`pip install .` gives a working install: the wheel carries resources/ and the installed code
finds them (assistant/resources.py), though they are no longer beside the source.

The wheel is built from this checkout and installed, without dependencies, into a fresh virtual
environment that borrows the test environment's packages through a .pth file; the check runs
from outside the checkout, so only the installed copy of `assistant` can be imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip", "--quiet"]
TIMEOUT_S = 600  # a generous bound for a slow, shared machine; no test asserts a duration


def test_an_installed_wheel_carries_and_finds_its_resources(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*PIP, "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels)],
        check=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("mneme-*.whl")
    prefix = "/data/share/mneme/resources/"
    with zipfile.ZipFile(wheel) as archive:
        carried = {n.split(prefix, 1)[1] for n in archive.namelist() if prefix in n}
    shipped = {
        p.relative_to(ROOT / "resources").as_posix() for p in (ROOT / "resources").rglob("*")
    }
    assert carried == {s for s in shipped if (ROOT / "resources" / s).is_file()}

    target = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    subprocess.run(
        [*PIP, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
    )
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    ).stdout.strip()
    # The dependencies come from this test environment (appended after the new environment's
    # own site-packages, so its `assistant` is the installed one).
    Path(site_packages, "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    check = (
        "import assistant, assistant.resources as r, json; "
        "prompt = r.read_text('prompts', 'system.md')[:40]; "
        "print(json.dumps([assistant.__file__, str(r.resource_root()), prompt, "
        "r.resource_path('icons', 'mneme.png').is_file()]))"
    )
    found = subprocess.run(
        [str(python), "-c", check],
        check=True,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
    ).stdout
    module, root, prompt, icon = json.loads(found.splitlines()[-1])
    assert Path(module).resolve().is_relative_to(Path(site_packages).resolve())
    assert Path(root).resolve() == (target / "share" / "mneme" / "resources").resolve()
    assert prompt == (ROOT / "resources" / "prompts" / "system.md").read_text()[:40]
    assert icon
