"""The full fuzz run of the importers: the fuzz tests under the "fuzz" hypothesis profile.

`make fuzz` runs this. The CI profile (`make test`) runs the same tests with fewer examples; here
each runs tests/conftest.py's FUZZ_FACTORS["fuzz"] times as many. Extra arguments go to pytest
(e.g. `-k pdf`); MNEME_FUZZ_FACTOR=N sets the factor. It ends with the number of generated
examples run. Exit status is pytest's: 0 means no crash and no hang in any example.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

FUZZ_FILES = [
    "tests/assistant/test_import_fuzz.py",
    "tests/assistant/test_email_import.py",
    "tests/assistant/test_importers.py",
]


def main(argv: list[str]) -> int:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "fuzz"}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["--hypothesis-show-statistics", *FUZZ_FILES, *argv]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    print(result.stdout[-20_000:], result.stderr[-5_000:], sep="\n")
    # Hypothesis' statistics say "- N passing, M failing, and K invalid test cases" per phase.
    counts = re.findall(r"(\d+) passing, (\d+) failing", result.stdout)
    passing = sum(int(p) for p, _ in counts)
    failing = sum(int(f) for _, f in counts)
    print(
        json.dumps(
            {
                "examples": passing + failing,
                "failing": failing,
                "seconds": round(time.perf_counter() - started, 1),
                "exit": result.returncode,
            }
        )
    )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
