"""The Hardware page and its controller (Qt)."""
