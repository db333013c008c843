"""qwen_desktop.hardware layer (see shared ARCHITECTURE.md)."""
