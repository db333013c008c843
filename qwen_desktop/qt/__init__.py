"""qwen_desktop.qt layer (see shared ARCHITECTURE.md)."""
