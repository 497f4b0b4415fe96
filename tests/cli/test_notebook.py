"""``examples/verify-in-jupyter.ipynb`` runs top to bottom in a real Jupyter kernel."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from tests.conftest import REPO_ROOT

NOTEBOOK = REPO_ROOT / "examples" / "verify-in-jupyter.ipynb"


def test_notebook_signs_verifies_and_shows_the_html_result(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
    nbclient = pytest.importorskip(
        "nbclient", reason="nbclient is not installed (pip install nbclient ipykernel)"
    )
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (no Python kernel)")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(client.setup_kernel())
        except Exception as exc:  # the machine cannot run a kernel: not the notebook's fault
            pytest.skip(f"a Jupyter kernel could not be started: {type(exc).__name__}: {exc}")
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)

    html = [
        output["data"]["text/html"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "text/html" in output.get("data", {})
    ]
    assert len(html) == 2
    assert ">verified</b>" in html[0]
    assert "NOT verified" in html[1]
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
