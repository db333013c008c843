"""qwen_desktop.core layer (see shared ARCHITECTURE.md)."""
