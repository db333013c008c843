"""The Hardware page: the whole machine report, each figure with where it came from."""

from __future__ import annotations

import time
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.core.machine import GpuInfo, MachineReport
from qwen_desktop.core.units import format_bytes
from qwen_desktop.hardware.ui.hardware_controller import HardwareController

NO_SOURCE = "—"


def _gb_per_second(value: int | None) -> str:
    return f"{value / 1e9:.1f} GB/s" if value else "unknown"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


class HardwarePage(QWidget):
    """A tree of the :class:`MachineReport`: Item | Value | Source, grouped by section.

    Args:
        controller: The scan it shows and restarts ("Rescan"); None: shown by calling
            :meth:`show_machine` (tests, profiles).

    Signals:
        rescan_requested(): The user pressed "Rescan".
    """

    rescan_requested = Signal()

    def __init__(
        self, controller: HardwareController | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("hardwarePage")
        self.machine: MachineReport | None = None
        self.status = QLabel("Scanning this computer…")
        self.status.setObjectName("hardwareStatus")
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setToolTip("Read the hardware again (free memory changes over time)")
        self.copy_button = QPushButton("Copy as JSON")
        self.copy_button.setToolTip(
            "Copy the report in the `qwen-desktop scan --json` format: save it to a file and any "
            "machine can evaluate this one with `--hardware FILE`"
        )
        self.copy_button.setEnabled(False)
        self.tree = QTreeWidget()
        self.tree.setObjectName("hardwareTree")
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Item", "Value", "Source"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.notes = QLabel()
        self.notes.setObjectName("hardwareNotes")
        self.notes.setWordWrap(True)
        self.notes.setTextFormat(Qt.TextFormat.RichText)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notes.hide()
        self.tree.setWordWrap(False)
        self.tree.headerItem().setToolTip(2, "Where each figure was read or how it was measured")
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 200)
        header.resizeSection(1, 420)

        bar = QHBoxLayout()
        bar.addWidget(self.status, 1)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.rescan_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.addLayout(bar)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.notes)
        self.rescan_button.clicked.connect(self._on_rescan_button_clicked)
        self.copy_button.clicked.connect(self.copy_json)
        if controller is not None:
            controller.scan_started.connect(self.set_scanning)
            controller.scan_finished.connect(self.show_machine)
            controller.scan_failed.connect(self.show_failure)
            self.rescan_requested.connect(controller.scan)

    # -- slots ----------------------------------------------------------------------------------

    def set_scanning(self) -> None:
        """A scan runs: disable "Rescan" until it ends."""
        self.rescan_button.setEnabled(False)
        self.status.setText("Scanning this computer…")

    def show_failure(self, message: str) -> None:
        """The scan failed: say so and allow another try."""
        self.rescan_button.setEnabled(True)
        self.status.setText(f"The hardware scan failed: {message}")

    def show_machine(self, machine: MachineReport) -> None:
        """Fill the tree from ``machine``."""
        self.machine = machine
        self.rescan_button.setEnabled(True)
        self.copy_button.setEnabled(True)
        self.status.setText(
            f"Scanned at {time.strftime('%H:%M:%S')}. The Source column tells where each figure "
            "was read or how it was measured."
        )
        self.tree.clear()
        self._os(machine)
        self._cpu(machine)
        self._memory(machine)
        for gpu in machine.gpus:
            self._gpu(gpu)
        if not machine.gpus:
            group = self._group("GPU")
            self._row(group, "GPU", "none found: models run on the CPU", NO_SOURCE)
        self._disk(machine)
        self.notes.setText(
            "<b>Notes from the scan</b><ul style='margin-left:-20px'>"
            + "".join(
                f"<li>{escape(note.message)} <span style='color:gray'>({escape(note.component)}"
                f": {escape(note.state)})</span></li>"
                for note in machine.notes
            )
            + "</ul>"
        )
        self.notes.setVisible(bool(machine.notes))
        self.tree.expandAll()

    def copy_json(self) -> None:
        """Put the report as JSON (``scan --json`` format) on the clipboard."""
        if self.machine is None:
            return
        QApplication.clipboard().setText(self.machine.to_json())
        self.status.setText("Copied the hardware report as JSON to the clipboard.")

    def rows(self) -> list[tuple[str, str, str, str]]:
        """Every figure as ``(section, item, value, source)`` (what the tree shows)."""
        found = []
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            if group is None:
                continue
            for j in range(group.childCount()):
                child = group.child(j)
                if child is not None:
                    found.append((group.text(0), child.text(0), child.text(1), child.text(2)))
        return found

    def _on_rescan_button_clicked(self) -> None:
        self.set_scanning()
        self.rescan_requested.emit()

    # -- sections -------------------------------------------------------------------------------

    def _group(self, title: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [title])
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        item.setFirstColumnSpanned(True)
        return item

    @staticmethod
    def _row(group: QTreeWidgetItem, name: str, value: str, source: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(group, [name, value, source or NO_SOURCE])
        item.setToolTip(1, value)
        item.setToolTip(2, source or "No source recorded for this figure")
        if not source or source == NO_SOURCE:
            item.setForeground(2, Qt.GlobalColor.gray)
        return item

    @staticmethod
    def _sources(sources: dict[str, str], *fields: str) -> str:
        found: list[str] = []
        for field in fields:
            source = sources.get(field)
            if source and source not in found:
                found.append(source)
        return "; ".join(found)

    def _os(self, machine: MachineReport) -> None:
        os_info, src = machine.os, machine.os.sources
        group = self._group("Operating system")
        self._row(group, "System", os_info.system or "unknown", self._sources(src, "system"))
        self._row(group, "Release", os_info.release or "unknown", self._sources(src, "release"))
        self._row(
            group, "Architecture", os_info.machine or "unknown", self._sources(src, "machine")
        )
        if os_info.description:
            self._row(group, "Distribution", os_info.description, self._sources(src, "description"))

    def _cpu(self, machine: MachineReport) -> None:
        cpu, src = machine.cpu, machine.cpu.sources
        group = self._group("CPU")
        self._row(group, "Model", cpu.model, self._sources(src, "model"))
        self._row(group, "Physical cores", str(cpu.physical_cores), src.get("physical_cores", ""))
        self._row(group, "Logical cores", str(cpu.logical_cores), src.get("logical_cores", ""))
        if cpu.usable_cores is not None:
            self._row(group, "Usable cores", str(cpu.usable_cores), src.get("usable_cores", ""))
        self._row(
            group,
            "Instruction sets",
            " ".join(f.upper() for f in cpu.flags) or "none reported",
            src.get("flags", ""),
        )
        method = cpu.memory_bandwidth_method
        bandwidth = _gb_per_second(cpu.memory_bandwidth_bytes_per_second)
        if cpu.memory_bandwidth_bytes_per_second:
            bandwidth += {
                "measured": " (measured, sustained copy)",
                "table": " (published peak)",
            }.get(method or "", "")
        else:
            bandwidth = "unknown: speed estimates assume 40 GB/s"
        self._row(
            group,
            "Memory bandwidth",
            bandwidth,
            src.get("memory_bandwidth_bytes_per_second", ""),
        )
        if cpu.memory_bandwidth_single_thread_bytes_per_second:
            self._row(
                group,
                "Bandwidth, one thread",
                _gb_per_second(cpu.memory_bandwidth_single_thread_bytes_per_second),
                src.get("memory_bandwidth_single_thread_bytes_per_second", "")
                or src.get("memory_bandwidth_bytes_per_second", ""),
            )

    def _memory(self, machine: MachineReport) -> None:
        mem, src = machine.memory, machine.memory.sources
        group = self._group("Memory")
        self._row(group, "Total RAM", format_bytes(mem.total_bytes), src.get("total_bytes", ""))
        self._row(
            group, "Available", format_bytes(mem.available_bytes), src.get("available_bytes", "")
        )
        self._row(
            group,
            "Container limit",
            format_bytes(mem.limit_bytes) if mem.limit_bytes is not None else "none",
            src.get("limit_bytes", ""),
        )
        self._row(
            group, "Swap total", format_bytes(mem.swap_total_bytes), src.get("swap_total_bytes", "")
        )
        self._row(
            group, "Swap free", format_bytes(mem.swap_free_bytes), src.get("swap_free_bytes", "")
        )

    def _gpu(self, gpu: GpuInfo) -> None:
        group = self._group(f"GPU {gpu.index}: {gpu.name}")

        def source(field: str) -> str:
            return gpu.sources.get(field) or gpu.source

        kind = "Shared memory" if gpu.unified_memory else "VRAM"
        vendor = {"nvidia": "NVIDIA", "amd": "AMD", "apple": "Apple", "intel": "Intel"}
        self._row(group, "Vendor", vendor.get(gpu.vendor, gpu.vendor), source("vendor"))
        self._row(group, "Name", gpu.name, source("name"))
        self._row(
            group,
            f"{kind} total",
            format_bytes(gpu.vram_total_bytes),
            source("vram_total_bytes"),
        )
        self._row(
            group,
            f"{kind} free",
            format_bytes(gpu.vram_free_bytes),
            source("vram_free_bytes"),
        )
        unified = _yes_no(gpu.unified_memory)
        if gpu.unified_memory:
            unified += ": shares the system RAM (never added on top of it)"
        self._row(group, "Unified memory", unified, source("unified_memory"))
        self._row(group, "Driver", gpu.driver_version or "unknown", source("driver_version"))
        capability = "compute capability" if gpu.vendor == "nvidia" else "GPU target"
        self._row(
            group,
            capability.capitalize(),
            gpu.compute_capability or "unknown",
            source("compute_capability"),
        )
        if gpu.core_count:
            self._row(group, "Cores", str(gpu.core_count), source("core_count"))
        if gpu.pci_bus_id:
            self._row(group, "PCI address", gpu.pci_bus_id, source("pci_bus_id"))

    def _disk(self, machine: MachineReport) -> None:
        disk, src = machine.disk, machine.disk.sources
        group = self._group("Disk (models folder)")
        self._row(group, "Folder", disk.path or "unknown", src.get("path", ""))
        known = disk.total_bytes > 0
        self._row(
            group,
            "Total",
            format_bytes(disk.total_bytes) if known else "unknown",
            src.get("total_bytes", ""),
        )
        self._row(
            group,
            "Free",
            format_bytes(disk.free_bytes) if known else "unknown",
            src.get("free_bytes", ""),
        )
