"""``python -m qwen_desktop``: the same entry point as the ``qwen-desktop`` command."""

from qwen_desktop.app import main

if __name__ == "__main__":
    raise SystemExit(main())
