import os

# Headless: the UI tests need no display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
