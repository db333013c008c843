"""Engines: the one seam every engine implements (``base``) and one adapter per technology
(Transformers in process, embedded or remote Ollama, OpenAI-compatible servers); ``service`` is the
Qt-free engine switch; ``ui/`` the engine dialog and the model-loading controller."""
