"""Hardware: probes of this computer (CPU, RAM, GPUs, VRAM, disk; Qt-free), the advisor that
ranks models for it, and ``ui/`` the Hardware page."""
