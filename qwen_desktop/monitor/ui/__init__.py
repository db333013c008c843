"""The Monitor dock and its controller (Qt)."""
