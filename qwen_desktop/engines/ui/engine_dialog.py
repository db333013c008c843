"""The Engine dialog: choose which engine serves models, then a model it offers.

Choices (see :mod:`qwen_desktop.engines.service`): the app's own Ollama, an Ollama already
running on the default port (case C8), the in-process Transformers engine, or a server by URL
(OpenAI-compatible or Ollama) with an optional API key that goes to the OS keyring. The default
choice is preselected. The dialog is not modal: the window stays usable while an engine starts.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from qwen_desktop.engines.base import LoadedModel
from qwen_desktop.engines.engine_choice import EngineStatus
from qwen_desktop.engines.service import (
    TRANSFORMERS_LABEL,
    EngineKind,
    EngineOption,
    default_kind,
    engine_options,
    no_engine_guide,
)
from qwen_desktop.engines.ui.engine_controller import EngineController

_SECRET_SERVER_HINT = (
    "The key is kept in the OS keyring for this address (never in the settings); leave it "
    "empty to use a stored key or $QWEN_DESKTOP_API_KEY."
)


def _label(text: str = "", name: str = "notice") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setObjectName(name)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class EngineDialog(QDialog):
    """Choose an engine and a model.

    Args:
        engines: The engine controller (probe, start, connect, load).
        parent: The main window.
    """

    def __init__(self, engines: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engines = engines
        self.setWindowTitle("Engine")
        self.setObjectName("engineDialog")
        self.resize(640, 720)
        self.options: dict[EngineKind, EngineOption] = {}
        self.radios: dict[EngineKind, QRadioButton] = {}
        self.details: dict[EngineKind, QLabel] = {}
        self.group = QButtonGroup(self)
        self.choices = QGroupBox("Which engine runs the models")
        self.choices.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.choices_layout = QVBoxLayout(self.choices)
        self.probing = _label("Looking for engines on this computer…")
        self.choices_layout.addWidget(self.probing)

        self._build_server_box()
        self._build_rest(engines)
        self._connect(engines)

    def _build_server_box(self) -> None:
        self.url = QLineEdit()
        self.url.setPlaceholderText("http://HOST:8000/v1  or  http://HOST:11434 (Ollama)")
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("optional")
        self.server_box = QWidget()
        server_form = QFormLayout(self.server_box)
        server_form.setContentsMargins(24, 0, 0, 0)
        server_form.addRow("Address:", self.url)
        server_form.addRow("API key:", self.api_key)
        server_form.addRow(_label(_SECRET_SERVER_HINT))

    def _build_rest(self, engines: EngineController) -> None:
        self.use_button = QPushButton("Use this engine")
        self.use_button.setEnabled(False)
        self.state = _label(f"In use: {engines.label}.")
        self.state.setObjectName("sectionTitle")
        self.problem = _label("", "noticeError")
        self.problem.setVisible(False)

        self.model_list = QListWidget()
        self.model_list.setMinimumHeight(96)
        self.model_list.setObjectName("engineModels")
        self.models_hint = _label("Choose an engine to see its models.")
        self.load_button = QPushButton("Load model")
        self.load_button.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        models_box = QGroupBox("Models this engine offers")
        models_layout = QVBoxLayout(models_box)
        models_layout.addWidget(self.models_hint)
        models_layout.addWidget(self.model_list, 1)
        load_row = QHBoxLayout()
        load_row.addStretch(1)
        load_row.addWidget(self.load_button)
        models_layout.addLayout(load_row)
        use_row = QHBoxLayout()
        use_row.addWidget(self.state, 1)
        use_row.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.choices)
        layout.addLayout(use_row)
        layout.addWidget(self.problem)
        layout.addWidget(models_box, 1)
        layout.addWidget(buttons)

    def _connect(self, engines: EngineController) -> None:
        self.group.buttonToggled.connect(self._on_group_toggled)
        self.use_button.clicked.connect(self.use_selected)
        self.load_button.clicked.connect(self.load_selected)
        self.model_list.itemSelectionChanged.connect(self._refresh_buttons)
        self.model_list.itemDoubleClicked.connect(lambda _item: self.load_selected())
        self.url.textChanged.connect(self._refresh_buttons)
        engines.status_ready.connect(self.show_status)
        engines.busy_changed.connect(self._on_engines_busy_changed)
        engines.engine_changed.connect(self._on_engines_engine_changed)
        engines.engine_failed.connect(self._on_engines_engine_failed)
        engines.models_listed.connect(self.show_models)
        engines.models.load_started.connect(self._on_models_load_started)
        engines.models.model_loaded.connect(self._on_models_model_loaded)
        engines.models.load_failed.connect(self._on_models_load_failed)
        if engines.status is not None:
            self.show_status(engines.status)
        if engines.model_ids:
            self.show_models(engines.model_ids)

    # -- filling -----------------------------------------------------------------------------

    def show_status(self, status: EngineStatus) -> None:
        """Offer the engines the probe found, the default one selected."""
        self.probing.setVisible(False)
        for radio in self.radios.values():
            self.group.removeButton(radio)
        for kind in list(self.radios):
            self.radios.pop(kind).deleteLater()
            self.details.pop(kind).deleteLater()
        self.server_box.setParent(None)
        self.options = {option.kind: option for option in engine_options(status)}
        for option in self.options.values():
            radio = QRadioButton(option.title)
            radio.setEnabled(option.available)
            detail = _label(option.detail, "notice" if option.available else "noticeError")
            detail.setContentsMargins(24, 0, 0, 4)
            self.group.addButton(radio)
            self.radios[option.kind] = radio
            self.details[option.kind] = detail
            self.choices_layout.addWidget(radio)
            self.choices_layout.addWidget(detail)
            if option.kind == "remote":
                self.choices_layout.addWidget(self.server_box)
        default = default_kind(status)
        if default is None:
            self.problem.setText(no_engine_guide())
            self.problem.setVisible(True)
        self.select(default or "remote")

    def select(self, kind: EngineKind) -> None:
        """Select a choice (when offered and available)."""
        radio = self.radios.get(kind)
        if radio is not None and radio.isEnabled():
            radio.setChecked(True)
        self._refresh_buttons()

    def selected(self) -> EngineKind | None:
        """The selected choice."""
        return next((k for k, r in self.radios.items() if r.isChecked()), None)

    def show_models(self, model_ids: object) -> None:
        """List the engine's models (Transformers: a hint to open a folder instead)."""
        self.model_list.clear()
        ids = [str(m) for m in model_ids] if isinstance(model_ids, tuple | list) else []
        for model_id in ids:
            QListWidgetItem(model_id, self.model_list)
        if ids:
            self.model_list.setCurrentRow(0)
            self.models_hint.setText(f"{len(ids)} model{'s' if len(ids) != 1 else ''}:")
        elif self.engines.models.engine_label in (None, TRANSFORMERS_LABEL):
            self.models_hint.setText(
                "The Transformers engine runs a model folder: use “Open model folder…” above "
                "the chat, or “Open in chat” on the Library page."
            )
        else:
            self.models_hint.setText(
                "This engine has no models yet. Download one on the Models page, or with "
                "ollama pull TAG for an Ollama."
            )
        self._refresh_buttons()

    # -- actions -----------------------------------------------------------------------------

    def _in_use(self, kind: EngineKind | None) -> bool:
        """True when ``kind`` is the engine serving models now (choosing it changes nothing)."""
        engines = self.engines
        if kind == "transformers":
            return engines.models.engine_label in (None, TRANSFORMERS_LABEL)
        if kind == "embedded":
            return engines.server is not None and engines.ollama_url is not None
        if kind == "running":
            url = self.options["running"].url
            return bool(url) and engines.server is None and engines.ollama_url == url
        return False

    def use_selected(self) -> None:
        """Change to the selected engine (nothing happens for the one already in use: its
        loaded model stays)."""
        kind = self.selected()
        self.problem.setVisible(False)
        if self._in_use(kind):
            self.state.setText(f"{self.engines.label} is already in use.")
            return
        if kind == "embedded":
            self.engines.use_embedded()
        elif kind == "running":
            option = self.options["running"]
            self.engines.use_running(option.url or "")
        elif kind == "transformers":
            self.engines.use_transformers()
        elif kind == "remote":
            self.engines.use_remote(self.url.text(), self.api_key.text())
            self.api_key.clear()  # the key now lives in the keyring only

    def load_selected(self) -> None:
        """Load the selected model on the engine in use."""
        item = self.model_list.currentItem()
        if item is not None and not self.engines.models.loading:
            self.engines.load(item.text())

    # -- events ------------------------------------------------------------------------------

    def _refresh_buttons(self) -> None:
        kind = self.selected()
        self.server_box.setEnabled(kind == "remote")
        ready = kind is not None and not self.engines.busy
        if kind == "remote":
            ready = ready and bool(self.url.text().strip())
        self.use_button.setEnabled(ready)
        self.load_button.setEnabled(
            self.model_list.currentItem() is not None and not self.engines.busy
        )

    def _on_group_toggled(self, _button: object, _checked: bool) -> None:
        self._refresh_buttons()

    def _on_engines_busy_changed(self, busy: bool) -> None:
        if busy:
            probing = self.engines.probing or self.engines.status is None
            self.state.setText("Looking for engines…" if probing else "Changing engine…")
        else:
            self.state.setText(f"In use: {self.engines.label}.")
        self._refresh_buttons()

    def _on_engines_engine_changed(self, label: str) -> None:
        self.state.setText(f"In use: {label}.")

    def _on_engines_engine_failed(self, message: str, action: str) -> None:
        self.state.setText(f"In use: {self.engines.label}.")
        self.problem.setText(f"{message} {action}".strip())
        self.problem.setVisible(True)

    def _on_models_load_started(self, name: str) -> None:
        self.state.setText(f"Loading {name}…")
        self._refresh_buttons()

    def _on_models_model_loaded(self, loaded: LoadedModel) -> None:
        self.state.setText(f"In use: {self.engines.label} · {loaded.name} is loaded.")
        self._refresh_buttons()

    def _on_models_load_failed(self, message: str, action: str) -> None:
        self.state.setText(f"In use: {self.engines.label}.")
        self.problem.setText(f"Could not load the model: {message} {action}".strip())
        self.problem.setVisible(True)
        self._refresh_buttons()
