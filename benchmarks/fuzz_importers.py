"""The full fuzz run of the importers: the fuzz tests under the "fuzz" hypothesis profile.

`make fuzz` runs this. The CI profile (`make test`) runs the same tests with fewer examples; here
each runs tests/conftest.py's FUZZ_FACTORS["fuzz"] times as many. Extra arguments go to pytest
(e.g. `-k pdf`). Exit status is pytest's: 0 means no crash and no hang in any example.
"""

from __future__ import annotations

import os
import sys

import pytest

FUZZ_FILES = ["tests/assistant/test_import_fuzz.py"]


def main(argv: list[str]) -> int:
    os.environ["HYPOTHESIS_PROFILE"] = "fuzz"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return int(pytest.main(["-q", "-p", "no:cacheprovider", *FUZZ_FILES, *argv]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
