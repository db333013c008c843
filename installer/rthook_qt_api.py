"""PyInstaller runtime hook: tell qasync to use PySide6 (the only Qt binding bundled).

qasync picks its binding from ``$QT_API`` and otherwise probes PyQt5, PyQt6 and PySide2 first;
those are excluded from the bundle, so the probe would only waste start-up time.
"""

import os

os.environ.setdefault("QT_API", "pyside6")
