"""qwen_desktop.ui layer (see shared ARCHITECTURE.md)."""
