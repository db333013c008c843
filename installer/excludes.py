"""What the frozen app leaves out, shared by the PyInstaller spec and tests/test_packaging.py.

Sizes are from ``shared/research/this-machine.md`` (Packaging): torch and transformers add hundreds
of MB to GBs; installers run models through the bundled Ollama, the Transformers engine is for pip
installs with the ``ml`` extra.
"""

ML_MODULES = (
    "torch",
    "torchvision",
    "torchaudio",
    "transformers",
    "accelerate",
    "safetensors",
    "tokenizers",
    "numpy",
    "sympy",
    "networkx",
    "jinja2",
)
"""The ``ml`` extra and its heavy dependencies (torch pulls sympy, networkx, jinja2). Pillow stays:
the app prepares attached images with it (``chat/image_preparation.py``)."""

OTHER_QT_BINDINGS = ("PyQt5", "PyQt6", "PySide2")
"""qasync's optional bindings: it imports whichever is installed; only PySide6 ships."""

UNUSED_QT_MODULES = tuple(
    f"PySide6.{name}"
    for name in (
        "Qt3DAnimation",
        "Qt3DCore",
        "Qt3DExtras",
        "Qt3DInput",
        "Qt3DLogic",
        "Qt3DRender",
        "QtBluetooth",
        "QtDataVisualization",
        "QtDesigner",
        "QtGraphs",
        "QtHelp",
        "QtLocation",
        "QtMultimedia",
        "QtMultimediaWidgets",
        "QtNetworkAuth",
        "QtNfc",
        "QtPdf",
        "QtPdfWidgets",
        "QtPositioning",
        "QtQml",
        "QtQuick",
        "QtQuick3D",
        "QtQuickControls2",
        "QtQuickWidgets",
        "QtRemoteObjects",
        "QtScxml",
        "QtSensors",
        "QtSerialBus",
        "QtSerialPort",
        "QtSpatialAudio",
        "QtSql",
        "QtStateMachine",
        "QtTest",
        "QtTextToSpeech",
        "QtUiTools",
        "QtWebChannel",
        "QtWebEngineCore",
        "QtWebEngineQuick",
        "QtWebEngineWidgets",
        "QtWebSockets",
        "QtWebView",
        "QtXml",
    )
)
"""Qt modules the app never imports. It uses QtCore, QtGui, QtWidgets and QtCharts (the monitor
dock; QtCharts needs QtOpenGL and QtOpenGLWidgets, so those stay too); QtSvg renders the icon.
tests/test_packaging.py fails when an app module starts importing one of these."""

DEV_TOOLS = (
    "hypothesis",
    "pytest",
    "_pytest",
    "mypy",
    "ast_serialize",
    "setuptools",
    "pkg_resources",
)
"""Test and type-check tools that optional plugins (pydantic's hypothesis and mypy plugins) pull."""

STDLIB_UNUSED = ("tkinter", "unittest", "pydoc_data", "test")

EXCLUDES = (
    *ML_MODULES,
    *OTHER_QT_BINDINGS,
    *UNUSED_QT_MODULES,
    *DEV_TOOLS,
    *STDLIB_UNUSED,
)
"""Everything passed to PyInstaller's ``Analysis(excludes=...)``."""

APP_ONLY_EXCLUDED = ("qwen_desktop.engines.transformers_runtime",)
"""App modules left out: they import torch at module level (the ``ml`` extra)."""


DROPPED_FILES = (
    # Qt's virtual keyboard input plugin drags in Qml, Quick and the keyboard itself (~17 MB).
    "*/platforminputcontexts/libqtvirtualkeyboardplugin*",
    "*libQt6VirtualKeyboard*",
    "*libQt6Qml*",
    "*libQt6Quick*",
    # Embedded-device platforms (EGLFS, framebuffer, VNC, Vulkan display): desktops use xcb,
    # wayland, cocoa or windows; offscreen and minimal stay for smoke tests.
    "*/platforms/libqeglfs*",
    "*/platforms/libqlinuxfb*",
    "*/platforms/libqvnc*",
    "*/platforms/libqvkkhrdisplay*",
    "*/egldeviceintegrations/*",
    "*libQt6EglFS*",
    "*libQt6EglFs*",
    # The GTK3 platform theme and the GTK stack only it needs (Qt draws its own widgets).
    "*/platformthemes/libqgtk3*",
    "*libgtk-3*",
    "*libgdk-3*",
    "*libgdk_pixbuf*",
    "*libatk-1.0*",
    "*libcairo*",
    "*libpango*",
    "*libpixman*",
    "*libharfbuzz*",
    "*libthai*",
    "*libdatrie*",
    "*libfribidi*",
    "*libgraphite2*",
    # NVIDIA's management library is loaded from the driver at run time, never bundled.
    "*libnvidia-ml*",
    # Metadata of packages that are left out (would make importlib.metadata claim them).
    "*/torch-*.dist-info/*",
    "*/transformers-*.dist-info/*",
)
"""fnmatch patterns (on the bundle-relative path, ``/`` separators) of collected files to drop."""


def keep(dest: str) -> bool:
    """True when the collected file at bundle path ``dest`` stays in the bundle."""
    from fnmatch import fnmatch

    path = "/" + dest.replace("\\", "/")
    return not any(fnmatch(path, pattern) for pattern in DROPPED_FILES)
