"""The Library page and its item model (Qt)."""
