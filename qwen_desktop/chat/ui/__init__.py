"""The chat page: transcript, prompt, sidebar, settings and their controller (Qt)."""
