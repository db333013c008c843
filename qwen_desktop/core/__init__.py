"""Core: pure Python shared by every feature (types, catalog, fit, thinking parser, storage,
settings, paths, errors); no Qt, no engine or hardware library."""
