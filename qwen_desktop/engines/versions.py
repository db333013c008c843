"""Which engines this install can run, by their packages' versions (for Help → About and
diagnostics). Read from the installed distributions' metadata: nothing is imported, so asking
costs milliseconds however heavy the engine library is."""

from __future__ import annotations

from importlib import metadata

ENGINE_PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Transformers (in-process)", ("transformers", "torch")),
    ("llama.cpp (in-process)", ("llama-cpp-python",)),
    ("Ollama (its Python client)", ("ollama",)),
    ("OpenAI-compatible server", ("openai",)),
)
"""Each engine and the distributions it needs (PyPI names), the first one naming it."""


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def engine_versions() -> list[tuple[str, str]]:
    """``(engine, "transformers 4.57.1, torch 2.8.0")`` per engine of :data:`ENGINE_PACKAGES`;
    an engine missing a package says which one to install."""
    lines = []
    for engine, packages in ENGINE_PACKAGES:
        found = [(name, package_version(name)) for name in packages]
        missing = [name for name, version in found if version is None]
        if missing:
            lines.append((engine, f"not installed (pip install {' '.join(missing)})"))
        else:
            lines.append((engine, ", ".join(f"{name} {version}" for name, version in found)))
    return lines
