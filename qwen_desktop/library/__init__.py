"""Library: the models on this computer, the models folder and what was used last (Qt-free);
``ui/`` the Library page."""
