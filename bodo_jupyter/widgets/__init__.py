"""The platform's panels as ipywidgets, for any notebook front end (Notebook 7,
VS Code, JupyterLab): the sidebar's forms and tables inside a notebook.

::

    from bodo_jupyter.widgets import ClusterPanel, JobPanel, NotebookPanel, SettingsPanel
    ClusterPanel()

Each panel runs on the async SDK in the kernel's own event loop, so it never blocks
the kernel; ``panel.close()`` stops everything it runs. The package imports only
the SDK and the contract (tests/test_architecture.py).
"""

from __future__ import annotations

from .clusters import ClusterPanel
from .jobs import JobPanel
from .notebooks import NotebookPanel
from .settings import SettingsPanel

__all__ = ["ClusterPanel", "JobPanel", "NotebookPanel", "SettingsPanel"]
