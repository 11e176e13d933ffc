"""The frozen app's entry script: what `mneme` runs inside a PyInstaller bundle.

The same entry point as the installed console script (`ui.launcher:main`): no arguments start the
desktop app, anything else is the CLI.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    # A frozen executable re-runs itself for every spawned worker process; this makes such a child
    # run its task instead of starting a second app (a no-op unless something uses multiprocessing).
    multiprocessing.freeze_support()
    from ui.launcher import main

    sys.exit(main())
