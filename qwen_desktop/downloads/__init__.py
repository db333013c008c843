"""Downloads: planning (Hugging Face Hub, Ollama pulls), resumable transfers and the queue
(Qt-free); ``ui/`` the downloads panel and its controller."""
