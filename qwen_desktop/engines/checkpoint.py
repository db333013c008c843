"""Checks a local Hugging Face model folder before any engine touches it.

:func:`inspect_checkpoint` reads only small files and the headers of the weight files, so it runs
in milliseconds and imports neither torch nor (in the common case) transformers. Every problem is a
:class:`~qwen_desktop.core.errors.CheckpointError` whose message says what is wrong and whose
action says what to do: a missing or GGUF folder, a broken ``config.json``, an architecture the
installed transformers does not know, missing weights or shards, truncated or corrupt
``.safetensors`` files (case C10: a file at 60 % of its size is reported incomplete and never
loaded), a missing tokenizer or chat template.

The safetensors layout (source: https://github.com/huggingface/safetensors, "Format"): 8 bytes
little-endian unsigned header length ``N``, then ``N`` bytes of JSON mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the byte after the
header; an optional ``__metadata__`` entry holds strings), then the data. A complete file is
exactly ``8 + N + max(end)`` bytes long.
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from qwen_desktop.core.errors import CheckpointError

SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_INDEX = "pytorch_model.bin.index.json"
MAX_SAFETENSORS_HEADER_BYTES = 100_000_000
"""The safetensors library refuses larger headers (its ``MAX_HEADER_SIZE``)."""

_DTYPE_NAMES = {
    "BOOL": ("bool", 1),
    "U8": ("uint8", 1),
    "I8": ("int8", 1),
    "F8_E4M3": ("float8_e4m3fn", 1),
    "F8_E5M2": ("float8_e5m2", 1),
    "I16": ("int16", 2),
    "U16": ("uint16", 2),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I32": ("int32", 4),
    "U32": ("uint32", 4),
    "F32": ("float32", 4),
    "I64": ("int64", 8),
    "U64": ("uint64", 8),
    "F64": ("float64", 8),
}
"""safetensors dtype code → (torch dtype name, bytes per element)."""

_VISION_MODEL_TYPES = frozenset(
    {"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "qwen2_5_omni", "qwen3_omni_moe"}
)

_REDOWNLOAD = "Download the model again (or resume the download if it was interrupted)."


@dataclass(frozen=True)
class SafetensorsFileInfo:
    """What the header of one ``.safetensors`` file says.

    Attributes:
        path: The file.
        size_bytes: Its size on disk.
        expected_bytes: The size its header implies (``8 + header length + end of last tensor``).
        parameters: Sum of the element counts of its tensors.
        bytes_by_dtype: Data bytes per torch dtype name (``"bfloat16"`` → bytes).
    """

    path: Path
    size_bytes: int
    expected_bytes: int
    parameters: int
    bytes_by_dtype: dict[str, int]


@dataclass(frozen=True)
class CheckpointInfo:
    """A validated local checkpoint.

    Attributes:
        path: The model folder.
        architecture: First entry of ``architectures`` in config.json (e.g. ``Qwen3ForCausalLM``).
        model_type: ``model_type`` in config.json (e.g. ``qwen3``).
        parameters: Total tensor elements in the safetensors files; None for ``.bin`` weights.
        weights_bytes: Total size of the weight files in bytes.
        dtype: The dtype holding most weight bytes (``bfloat16``…); None when unknown.
        context_window_tokens: ``max_position_embeddings`` (tokens); None when absent.
        has_vision: True for vision-language checkpoints (a ``vision_config`` or a VL model type).
        layers: ``num_hidden_layers``; None when absent.
        kv_heads: ``num_key_value_heads`` (falls back to ``num_attention_heads``).
        head_dim: ``head_dim`` (falls back to ``hidden_size / num_attention_heads``).
        weight_files: The weight files, sorted.
    """

    path: Path
    architecture: str
    model_type: str
    parameters: int | None
    weights_bytes: int
    dtype: str | None
    context_window_tokens: int | None
    has_vision: bool
    layers: int | None
    kv_heads: int | None
    head_dim: int | None
    weight_files: tuple[Path, ...]


_GGUF_ACTION = (
    "GGUF files run on the Ollama engine, which this version does not include yet; for now "
    "download the model's Hugging Face checkpoint (config.json + .safetensors) instead."
)


def inspect_checkpoint(path: Path) -> CheckpointInfo:
    """Validate a local model folder and describe it, reading only small files and headers.

    Args:
        path: A Hugging Face-style model folder (config.json, weights, tokenizer, chat template).

    Returns:
        What the folder holds.

    Raises:
        CheckpointError: The folder is missing, not a checkpoint (a GGUF file/folder), or has a
            broken config, an architecture the installed transformers does not support, missing,
            truncated or corrupt weights, no tokenizer, or no chat template.
    """
    path = Path(path)
    config = _read_config(path)
    _check_unfinished_download(path)
    model_type, architecture = _check_architecture(path, config)
    weight_files, parameters, dtype = _check_weights(path)
    _check_tokenizer(path)
    nested = config.get("text_config")
    text_config: dict[str, Any] = nested if isinstance(nested, dict) else {}

    def field(name: str) -> Any:
        value = config.get(name)
        return text_config.get(name) if value is None else value

    heads = _as_int(field("num_attention_heads"))
    head_dim = _as_int(field("head_dim"))
    hidden = _as_int(field("hidden_size"))
    if head_dim is None and hidden and heads:
        head_dim = hidden // heads
    return CheckpointInfo(
        path=path,
        architecture=architecture,
        model_type=model_type,
        parameters=parameters,
        weights_bytes=sum(f.stat().st_size for f in weight_files),
        dtype=dtype,
        context_window_tokens=_as_int(field("max_position_embeddings")),
        has_vision=isinstance(config.get("vision_config"), dict)
        or model_type in _VISION_MODEL_TYPES,
        layers=_as_int(field("num_hidden_layers")),
        kv_heads=_as_int(field("num_key_value_heads")) or heads,
        head_dim=head_dim,
        weight_files=tuple(sorted(weight_files)),
    )


def read_safetensors_header(file: Path) -> SafetensorsFileInfo:
    """Read and check the header of one ``.safetensors`` file (no tensor data is read).

    Args:
        file: The file.

    Returns:
        Sizes and counts from the header.

    Raises:
        CheckpointError: The file is shorter than its header says (incomplete, case C10), longer
            (corrupt), or its header is unreadable.
    """
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise _incomplete(file, size, None)
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > MAX_SAFETENSORS_HEADER_BYTES:
                raise _corrupt(file, f"its header claims {header_len:,} bytes")
            if 8 + header_len > size:
                raise _incomplete(file, size, None)
            raw = handle.read(header_len)
    except OSError as error:
        raise CheckpointError(
            f"{file.name} cannot be read ({error.strerror or error}).",
            "Check the file's permissions and the disk, then try again.",
        ) from error
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(file, "its header is not valid JSON") from error
    if not isinstance(header, dict):
        raise _corrupt(file, "its header is not a JSON object")

    data_end = 0
    parameters = 0
    bytes_by_dtype: Counter[str] = Counter()
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype_code, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            elements = math.prod(int(d) for d in shape)
            begin, end = int(begin), int(end)
        except (KeyError, TypeError, ValueError) as error:
            raise _corrupt(file, f"the header entry for tensor {name!r} is malformed") from error
        if not 0 <= begin <= end:
            raise _corrupt(file, f"tensor {name!r} has impossible offsets")
        dtype_name, _ = _DTYPE_NAMES.get(str(dtype_code), (str(dtype_code).lower(), 0))
        parameters += elements
        bytes_by_dtype[dtype_name] += end - begin
        data_end = max(data_end, end)
    expected = 8 + header_len + data_end
    if size < expected:
        raise _incomplete(file, size, expected)
    if size > expected:
        raise _corrupt(file, f"it is {size:,} bytes where its header describes {expected:,}")
    return SafetensorsFileInfo(file, size, expected, parameters, dict(bytes_by_dtype))


# -- internals ---------------------------------------------------------------------------------


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(
            f"The model folder {path} does not exist.",
            "Check the path, or pick the model folder again.",
        )
    if not path.is_dir():
        if path.suffix.lower() == ".gguf":
            raise CheckpointError(
                f"{path.name} is a GGUF file, which the Transformers engine cannot read.",
                _GGUF_ACTION,
            )
        raise CheckpointError(
            f"{path} is a file, not a model folder.",
            "Pick the folder that holds config.json and the .safetensors files.",
        )
    config_file = path / "config.json"
    if not config_file.is_file():
        gguf = sorted(p.name for p in path.glob("*.gguf"))
        if gguf:
            raise CheckpointError(
                f"{path.name} looks like a GGUF model folder ({', '.join(gguf[:3])}), "
                "not a Hugging Face checkpoint.",
                _GGUF_ACTION,
            )
        raise CheckpointError(
            f"{path} has no config.json, so it is not a Hugging Face model folder.",
            "Pick the folder that holds config.json (in the Hugging Face cache: the "
            "snapshots/<revision> folder).",
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            f"config.json in {path.name} is not valid JSON ({error}).",
            f"The file is damaged. {_REDOWNLOAD}",
        ) from error
    if not isinstance(config, dict):
        raise CheckpointError(
            f"config.json in {path.name} is not a JSON object.",
            f"The file is damaged. {_REDOWNLOAD}",
        )
    return config


def unfinished_downloads(path: Path) -> list[tuple[str, int, int]]:
    """Files of a Hugging Face cache snapshot whose download is unfinished.

    A snapshot folder (``…/models--X/snapshots/<commit>``) whose repository's ``blobs/`` holds a
    ``<etag>.part`` with its ``<etag>.part.json`` sidecar (written by
    :mod:`qwen_desktop.downloads.hf_download`) naming this commit is an interrupted download: its
    files appear in the snapshot only once verified, so the folder is incomplete (case C10).

    Returns:
        ``(repository path, bytes on disk, expected bytes)`` per unfinished file; empty for any
        other folder.
    """
    if path.parent.name != "snapshots":
        return []
    found: list[tuple[str, int, int]] = []
    for sidecar in sorted((path.parent.parent / "blobs").glob("*.part.json")):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            part = sidecar.with_name(sidecar.name.removesuffix(".json"))
            have = part.stat().st_size
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("commit") == path.name:
            found.append((str(meta.get("path", part.name)), have, int(meta.get("size_bytes", 0))))
    return found


def _check_unfinished_download(path: Path) -> None:
    unfinished = unfinished_downloads(path)
    if not unfinished:
        return
    name, have, expected = unfinished[0]
    more = f" ({len(unfinished) - 1} more files unfinished)" if len(unfinished) > 1 else ""
    error = _incomplete(Path(name), have, expected or None)
    raise CheckpointError(error.message.replace(". It will", f"{more}. It will"), error.action)


def _check_architecture(path: Path, config: dict[str, Any]) -> tuple[str, str]:
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    architecture = (
        str(architectures[0]) if isinstance(architectures, list) and architectures else ""
    )
    if not isinstance(model_type, str) or not model_type:
        raise CheckpointError(
            f"config.json in {path.name} does not say which kind of model it is (no model_type).",
            "This is not a transformers checkpoint this app can load; pick another model folder.",
        )
    supported, version = transformers_supports_model_type(model_type)
    if supported is False:
        shown = f"{architecture}, model_type '{model_type}'" if architecture else f"'{model_type}'"
        raise CheckpointError(
            f"This model's architecture ({shown}) is not supported by the installed "
            f"transformers {version}.",
            "Update transformers (pip install -U transformers), or pick a model of a supported "
            "architecture.",
        )
    return model_type, architecture or model_type


def transformers_supports_model_type(model_type: str) -> tuple[bool | None, str | None]:
    """Whether the installed transformers knows a ``model_type`` (without importing it if possible).

    Fast path: transformers keeps one package per model under ``transformers/models/``; when that
    folder exists the type is supported (a file check, no import). Otherwise the authoritative
    ``CONFIG_MAPPING_NAMES`` is imported (this imports torch, about 2 s).

    Returns:
        ``(supported, version)``; ``(None, None)`` when transformers is not installed or unusable.
    """
    try:
        spec = importlib.util.find_spec("transformers")
        version = metadata.version("transformers")
    except (ImportError, ValueError, metadata.PackageNotFoundError):
        return None, None
    if spec is None:
        return None, None
    for location in spec.submodule_search_locations or ():
        if (Path(location) / "models" / model_type.replace("-", "_")).is_dir():
            return True, version
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except Exception:  # a broken transformers install: let the engine report it when loading
        return None, version
    return model_type in CONFIG_MAPPING_NAMES, version


def _check_weights(path: Path) -> tuple[list[Path], int | None, str | None]:
    """Find the weight files, check them; returns (files, parameters, dtype)."""
    index = path / SAFETENSORS_INDEX
    if index.is_file():
        files = _files_from_index(path, index)
    else:
        single = path / "model.safetensors"
        files = [single] if single.is_file() else sorted(path.glob("*.safetensors"))
    if not files:
        return _check_pickle_weights(path)

    parameters = 0
    bytes_by_dtype: Counter[str] = Counter()
    for file in files:
        info = read_safetensors_header(file)
        parameters += info.parameters
        bytes_by_dtype.update(info.bytes_by_dtype)
    dtype = bytes_by_dtype.most_common(1)[0][0] if bytes_by_dtype else None
    return files, parameters, dtype


def _files_from_index(path: Path, index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted({str(name) for name in weight_map.values()})
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise CheckpointError(
            f"{index.name} in {path.name} is damaged (it does not list the weight shards).",
            _REDOWNLOAD,
        ) from error
    missing = [name for name in names if not (path / name).is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (", …" if len(missing) > 3 else "")
        raise CheckpointError(
            f"{len(missing)} of {len(names)} weight shards of this model "
            f"{'is' if len(missing) == 1 else 'are'} missing ({shown}).",
            f"The download is incomplete. {_REDOWNLOAD}",
        )
    return [path / name for name in names]


def _check_pickle_weights(path: Path) -> tuple[list[Path], int | None, str | None]:
    """Older checkpoints ship ``pytorch_model*.bin``; only their presence can be checked cheaply."""
    index = path / PYTORCH_INDEX
    if index.is_file():
        files = _files_from_index(path, index)
    else:
        files = sorted(path.glob("pytorch_model*.bin"))
    if not files:
        raise CheckpointError(
            f"There are no model weights in {path.name} (no .safetensors files).",
            f"The weight files are missing. {_REDOWNLOAD}",
        )
    return files, None, None


def _check_tokenizer(path: Path) -> None:
    has_fast = (path / "tokenizer.json").is_file()
    has_bpe = (path / "vocab.json").is_file() and (path / "merges.txt").is_file()
    if not (has_fast or has_bpe):
        raise CheckpointError(
            f"There is no tokenizer in {path.name} (tokenizer.json, or vocab.json with "
            "merges.txt).",
            "Download the model's tokenizer files too (they are part of the same repository).",
        )
    tokenizer_config: dict[str, Any] = {}
    config_file = path / "tokenizer_config.json"
    if config_file.is_file():
        try:
            loaded = json.loads(config_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointError(
                f"tokenizer_config.json in {path.name} is not valid JSON ({error}).",
                f"The file is damaged. {_REDOWNLOAD}",
            ) from error
        tokenizer_config = loaded if isinstance(loaded, dict) else {}
    if tokenizer_config.get("chat_template"):
        return
    if (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file():
        return
    raise CheckpointError(
        f"The model in {path.name} has no chat template (none in tokenizer_config.json, no "
        "chat_template.jinja), so it cannot be used for chat.",
        "This is probably a base (pretrained) model: pick its Instruct or chat variant.",
    )


def _incomplete(file: Path, size: int, expected: int | None) -> CheckpointError:
    if expected:
        detail = f"{size:,} of {expected:,} bytes ({100 * size / expected:.0f} %)"
    else:
        detail = f"only {size:,} bytes, shorter than its own header"
    return CheckpointError(
        f"{file.name} is incomplete: {detail}. It will not be loaded.",
        "The download stopped before the end: resume it, or download the model again.",
    )


def _corrupt(file: Path, reason: str) -> CheckpointError:
    return CheckpointError(
        f"{file.name} is corrupt: {reason}. It will not be loaded.",
        "Delete the file and download the model again.",
    )


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
