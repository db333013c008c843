"""Qt helpers shared by every page: the qasync loop, async tasks, the style."""
