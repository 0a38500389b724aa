"""The notebooks: diff-friendly sources that execute top to bottom on a small demo warehouse.

Each ``notebooks/*.py`` (jupytext percent format) is converted and run in a real Jupyter kernel
with nbclient, so a broken import, a renamed column or a failing check inside a notebook fails
here. The kernel gets a fresh warehouse: ``DWH_HOME`` in a temporary directory, the source and
ODS on the test PostgreSQL (the source doubles as its replica, as in the integration tests) and
2,000 simulated orders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_config
from nbclient import NotebookClient

REPOSITORY = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPOSITORY / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.py"))
ORDERS = 2_000


def _images(notebook: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def test_there_are_notebooks() -> None:
    names = {path.stem for path in NOTEBOOKS}
    assert {"01_exploring_the_marts", "02_reusing_the_transforms"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_source_is_canonical_percent_format(path: Path) -> None:
    # What jupytext writes back is what is committed: saving in Jupyter causes no churn.
    config = load_jupytext_config(str(NOTEBOOKS_DIR))
    text = path.read_text(encoding="utf-8")
    notebook = jupytext.reads(text, fmt="py:percent")
    assert jupytext.writes(notebook, fmt="py:percent", config=config) == text
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"


def test_no_ipynb_is_tracked() -> None:
    git = shutil.which("git")
    if git is None or not (REPOSITORY / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        [git, "-C", str(REPOSITORY), "ls-files", "--", "notebooks"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [name for name in tracked if name.endswith(".ipynb")] == []
    ignored = (NOTEBOOKS_DIR / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "*.ipynb" in ignored


@pytest.fixture
def warehouse_env(
    pg_database_factory: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point the kernel (it inherits this environment) at an empty warehouse of its own."""
    for name in list(os.environ):
        if name.startswith(("DWH_", "PREFECT_API")):
            monkeypatch.delenv(name)
    source = pg_database_factory("dwh_nb_source")  # type: ignore[operator]
    home = tmp_path / "home"
    monkeypatch.setenv("DWH_HOME", str(home))
    monkeypatch.setenv("DWH_SOURCE_DSN", source)
    monkeypatch.setenv("DWH_REPLICA_DSN", source)
    monkeypatch.setenv("DWH_ODS_DSN", pg_database_factory("dwh_nb_ods"))  # type: ignore[operator]
    monkeypatch.setenv("DWH_NOTEBOOK_ORDERS", str(ORDERS))
    return home


@pytest.mark.integration
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, warehouse_env: Path) -> None:
    notebook = jupytext.read(path)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        # Started in the notebooks folder, as Jupyter does.
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError with the cell's traceback
    assert _images(notebook) > 0, "every notebook shows at least one plot"
