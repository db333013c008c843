"""The Models page and the machine panel: catalog rows with their fit (Qt)."""
