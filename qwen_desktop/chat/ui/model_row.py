"""The chat header's model row: what is loaded (or loading), on which engine, and the folder
button. Bound to the :class:`~qwen_desktop.engines.ui.model_controller.ModelController`."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from qwen_desktop.core.units import format_bytes
from qwen_desktop.engines.base import LoadedModel
from qwen_desktop.engines.ui.model_controller import ModelController


class ModelRow(QWidget):
    """ "Model: <name · device dtype · size · served by engine>  [Open model folder…]".

    A long label gives way and is clipped (its tooltip keeps the whole text), so a narrow
    window never pushes the button out.
    """

    def __init__(self, models: ModelController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models = models
        self.label = QLabel(self.tr("No model loaded"))
        self.label.setObjectName("modelLabel")
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setMinimumWidth(120)
        self.open_button = QPushButton(self.tr("Open model folder…"))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel(self.tr("Model:")))
        row.addWidget(self.label, 1)
        row.addWidget(self.open_button)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        models.load_started.connect(self._on_models_load_started)
        models.model_loaded.connect(self._on_models_model_loaded)
        models.load_failed.connect(self._on_models_load_failed)
        models.engine_changed.connect(self._on_models_engine_changed)

    def _on_open_button_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Open a Qwen model folder"))
        if folder:
            self.models.load_folder(Path(folder))

    def _on_models_load_started(self, name: str) -> None:
        self.label.setText(self.tr("Loading {name}…").format(name=name))
        self.open_button.setEnabled(False)

    def _on_models_model_loaded(self, loaded: LoadedModel) -> None:
        self.open_button.setEnabled(True)
        size = format_bytes(loaded.weights_bytes)
        text = f"{loaded.name}  ·  {loaded.device} {loaded.dtype}  ·  {size}"
        engine = self.models.engine_label
        if engine is not None:
            text += "  ·  " + self.tr("served by {engine}").format(engine=engine)
            self.label.setToolTip(
                self.tr("{name} runs on {engine}.").format(name=loaded.name, engine=engine)
            )
        self.label.setText(text)

    def _on_models_load_failed(self, _message: str, _action: str) -> None:
        self.open_button.setEnabled(True)
        loaded = self.models.loaded
        self.label.setText(loaded.name if loaded else self.tr("No model loaded"))

    def _on_models_engine_changed(self, label: str) -> None:
        self.label.setText(self.tr("No model loaded  ·  engine: {engine}").format(engine=label))
