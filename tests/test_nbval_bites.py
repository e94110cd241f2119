"""nbval as the test command runs it really compares marked outputs: a changed number fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

REPO = Path(__file__).resolve().parent.parent
SANITIZE = REPO / "tests" / "nbval_sanitize.cfg"


def nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--sanitize-with", str(SANITIZE),
                           "-p", "no:cacheprovider", "-q", str(path)], capture_output=True, text=True, cwd=path.parent)


@pytest.mark.slow
def test_changed_number_in_a_marked_cell_fails(tmp_path: Path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile = "course"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(f'accuracy {sum(range(10)) / 7:.4f} after 1.5 s')",
                                  metadata={"tags": ["nbval-check-output"]}),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, executed = tmp_path / "src.ipynb", tmp_path / "executed.ipynb"
    nbformat.write(nb, src)
    pm.execute_notebook(src, executed, parameters={"profile": "smoke"}, progress_bar=False, kernel_name="python3")
    assert nbval(executed).returncode == 0, "an untouched executed notebook reproduces itself"

    tampered = nbformat.read(executed, as_version=4)
    cell = next(c for c in tampered.cells if "nbval-check-output" in c.metadata.get("tags", []))
    assert cell.outputs[0]["text"] == "accuracy 6.4286 after 1.5 s\n"
    cell.outputs[0]["text"] = "accuracy 6.4287 after 1.5 s\n"
    nbformat.write(tampered, executed)
    assert nbval(executed).returncode != 0, "a changed number must fail nbval"

    cell.outputs[0]["text"] = "accuracy 6.4286 after 2.5 s\n"
    nbformat.write(tampered, executed)
    assert nbval(executed).returncode == 0, "timings are sanitized"
