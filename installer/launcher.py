"""Entry script of the frozen app (PyInstaller needs a file; the logic is ``qwen_desktop.app``)."""

import sys

from qwen_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
