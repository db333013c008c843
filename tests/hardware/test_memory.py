"""cgroup memory-limit reading over fake sysfs trees, and the memory probe on this machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qwen_desktop.hardware import memory
from qwen_desktop.hardware.memory import (
    CgroupLimit,
    cgroup_memory_limit,
    parse_limit_value,
    parse_proc_self_cgroup,
    probe_memory,
)

GIB = 1024**3
V1_UNLIMITED = "9223372036854771712\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _v2_tree(root: Path) -> None:
    _write(root / "cgroup.controllers", "cpuset cpu io memory pids\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max\n", None),
        (V1_UNLIMITED, None),
        ("", None),
        ("0\n", None),
        ("-1\n", None),
        ("garbage\n", None),
        ("8589934592\n", 8 * GIB),
    ],
)
def test_parse_limit_value(text: str, expected: int | None) -> None:
    assert parse_limit_value(text) == expected


def test_parse_proc_self_cgroup_v1_and_v2_lines() -> None:
    text = "12:pids:/docker/abc\n4:memory,cpu:/docker/abc\n0::/user.slice/app.scope\n"
    assert parse_proc_self_cgroup(text) == ("/user.slice/app.scope", "/docker/abc")
    assert parse_proc_self_cgroup("") == (None, None)
    assert parse_proc_self_cgroup("0::/\n") == ("/", None)


def test_v2_limit_in_own_cgroup(tmp_path: Path) -> None:
    _v2_tree(tmp_path)
    _write(tmp_path / "memory.max", "max\n")
    _write(tmp_path / "user.slice" / "memory.max", "max\n")
    _write(tmp_path / "user.slice" / "app.scope" / "memory.max", "4294967296\n")
    limit = cgroup_memory_limit(tmp_path, "0::/user.slice/app.scope\n")
    assert limit == CgroupLimit(
        limit_bytes=4 * GIB, source=str(tmp_path / "user.slice" / "app.scope" / "memory.max")
    )


def test_v2_parent_limit_applies_when_stricter(tmp_path: Path) -> None:
    _v2_tree(tmp_path)
    _write(tmp_path / "user.slice" / "memory.max", "2147483648\n")
    _write(tmp_path / "user.slice" / "app.scope" / "memory.max", "max\n")
    limit = cgroup_memory_limit(tmp_path, "0::/user.slice/app.scope\n")
    assert limit is not None
    assert limit.limit_bytes == 2 * GIB
    assert limit.source == str(tmp_path / "user.slice" / "memory.max")


def test_v2_container_namespace_reads_mount_root(tmp_path: Path) -> None:
    """Inside a container with its own cgroup namespace, /proc/self/cgroup says ``0::/``."""
    _v2_tree(tmp_path)
    _write(tmp_path / "memory.max", "1073741824\n")
    assert cgroup_memory_limit(tmp_path, "0::/\n") == CgroupLimit(GIB, str(tmp_path / "memory.max"))


def test_v2_unlimited_everywhere(tmp_path: Path) -> None:
    _v2_tree(tmp_path)
    _write(tmp_path / "memory.max", "max\n")
    _write(tmp_path / "a" / "memory.max", "max\n")
    assert cgroup_memory_limit(tmp_path, "0::/a\n") is None


def test_v1_limit_in_memory_controller(tmp_path: Path) -> None:
    v1 = tmp_path / "memory"
    _write(v1 / "memory.limit_in_bytes", V1_UNLIMITED)
    _write(v1 / "docker" / "abc" / "memory.limit_in_bytes", "536870912\n")
    text = "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n"
    assert cgroup_memory_limit(tmp_path, text) == CgroupLimit(
        512 * 1024**2, str(v1 / "docker" / "abc" / "memory.limit_in_bytes")
    )


def test_v1_host_path_missing_inside_container_falls_back_to_root(tmp_path: Path) -> None:
    """Old Docker: /proc/self/cgroup shows the host path, the container's cgroup is the mount."""
    v1 = tmp_path / "memory"
    _write(v1 / "memory.limit_in_bytes", "3221225472\n")
    assert cgroup_memory_limit(tmp_path, "4:memory:/docker/0123456789ab\n") == CgroupLimit(
        3 * GIB, str(v1 / "memory.limit_in_bytes")
    )


def test_v1_unlimited_like_this_machine(tmp_path: Path) -> None:
    v1 = tmp_path / "memory"
    _write(v1 / "memory.limit_in_bytes", V1_UNLIMITED)
    _write(v1 / "process_api" / "x" / "memory.limit_in_bytes", V1_UNLIMITED)
    assert cgroup_memory_limit(tmp_path, "4:memory:/process_api/x\n0::/\n") is None


def test_hybrid_mode_reads_v1_memory_and_unified_v2(tmp_path: Path) -> None:
    """Hybrid hierarchy: v2 mounted at root/unified (no memory there), memory on v1."""
    _v2_tree(tmp_path / "unified")
    _write(tmp_path / "memory" / "svc" / "memory.limit_in_bytes", "1073741824\n")
    limit = cgroup_memory_limit(tmp_path, "4:memory:/svc\n0::/svc\n")
    assert limit is not None
    assert limit.limit_bytes == GIB


def test_no_cgroup_filesystem(tmp_path: Path) -> None:
    assert cgroup_memory_limit(tmp_path / "absent", "0::/\n") is None
    assert cgroup_memory_limit(tmp_path, "") is None


def test_probe_memory_reports_a_limit_below_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _v2_tree(tmp_path)
    _write(tmp_path / "memory.max", "1073741824\n")
    monkeypatch.setattr(memory, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(memory, "PROC_SELF_CGROUP", tmp_path / "no-such-file")
    info, notes = probe_memory()
    if info.total_bytes <= GIB:  # pragma: no cover - a machine with ≤ 1 GiB of RAM
        pytest.skip("this machine has no more RAM than the fake limit")
    assert info.limit_bytes == GIB
    assert info.usable_total_bytes == GIB
    assert info.available_bytes <= GIB
    assert info.sources["limit_bytes"] == str(tmp_path / "memory.max")
    assert [(n.component, n.state) for n in notes] == [("memory", "limited")]
    assert "1.0 GiB" in notes[0].message


def test_probe_memory_ignores_a_limit_above_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _v2_tree(tmp_path)
    _write(tmp_path / "memory.max", str(1 << 55) + "\n")  # 32 PiB: above any RAM
    monkeypatch.setattr(memory, "CGROUP_ROOT", tmp_path)
    info, notes = probe_memory()
    assert info.limit_bytes is None
    assert "limit_bytes" not in info.sources
    assert notes == []


def test_recorded_proc_self_cgroup_of_the_dev_machine(
    tmp_path: Path, recorded: Callable[[str], str]
) -> None:
    """cgroup v1 with a named systemd hierarchy and a v2 ``0::/`` line (recorded here)."""
    text = recorded("proc_self_cgroup_v1_dev_machine.txt")
    v2, v1 = parse_proc_self_cgroup(text)
    assert v2 == "/"
    assert v1 is not None and v1.startswith("/process_api/")
    _write(tmp_path / "memory" / v1.lstrip("/") / "memory.limit_in_bytes", "6442450944\n")
    _write(tmp_path / "memory" / "memory.limit_in_bytes", V1_UNLIMITED)
    limit = cgroup_memory_limit(tmp_path, text)
    assert limit is not None and limit.limit_bytes == 6 * GIB


def test_v2_deep_systemd_path_every_level_counts(tmp_path: Path) -> None:
    """A desktop session: the app's scope sits five levels down; a slice above sets the limit."""
    path = "user.slice/user-1000.slice/user@1000.service/app.slice/app-qwen\\x2ddesktop-42.scope"
    _v2_tree(tmp_path)
    _write(tmp_path / "user.slice" / "user-1000.slice" / "memory.max", "max\n")
    _write(
        tmp_path / "user.slice/user-1000.slice/user@1000.service/app.slice/memory.max",
        "12884901888\n",
    )
    _write(tmp_path / path / "memory.max", "17179869184\n")
    limit = cgroup_memory_limit(tmp_path, f"0::/{path}\n")
    assert limit is not None
    assert limit.limit_bytes == 12 * GIB
    assert limit.source.endswith("app.slice/memory.max")


def test_path_with_colons_and_named_hierarchies() -> None:
    text = "1:name=systemd:/a:b\n2:memory:/docker/x:y\n0::/c:d\n"
    assert parse_proc_self_cgroup(text) == ("/c:d", "/docker/x:y")
