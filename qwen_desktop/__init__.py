"""qwen-desktop: run Alibaba's Qwen models on your own computer, offline."""

__version__ = "0.1.0"
