"""Models: the catalog, fit and recommendations as the window shows them (``ui/``); the Qt-free
rules live in ``core`` (catalog, fit, recommend)."""
