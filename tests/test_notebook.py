"""The themes walkthrough notebook runs top to bottom (tiny pipeline), so it never rots."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "themes_walkthrough.ipynb"


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch):
    """A kernelspec pointing at this interpreter (the project's .venv), found first on
    JUPYTER_PATH, so the notebook never runs under some other Python."""
    folder = tmp_path / "jupyter" / "kernels" / "closeloop-venv"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Closeloop .venv", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("CLOSELOOP_NOTEBOOK_REAL_MODEL", raising=False)
    return "closeloop-venv"


@pytest.mark.slow
def test_walkthrough_notebook_runs(venv_kernel, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name=venv_kernel,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    outputs = "\n".join(
        out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []))
    assert "Fitted theme model" in outputs
    assert "NMI" in outputs and "'Unexpected fees' holds" in outputs
