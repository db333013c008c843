"""Downloads in the window: the queue's controller and panel (Qt)."""
