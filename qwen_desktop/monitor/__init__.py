"""Monitor: live resource samples and the health of the loaded model (Qt-free); ``ui/`` the dock."""
