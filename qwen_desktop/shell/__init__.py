"""The window's shell: tabs, docks, menus and the status bar hosting each feature's page."""
