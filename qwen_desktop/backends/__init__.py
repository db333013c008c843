"""qwen_desktop.backends layer (see shared ARCHITECTURE.md)."""
