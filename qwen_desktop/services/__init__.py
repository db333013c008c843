"""qwen_desktop.services layer (see shared ARCHITECTURE.md)."""
