"""Engines in the window: choosing an engine, loading and unloading models (Qt)."""
