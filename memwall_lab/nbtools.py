"""Keep notebooks clean: only `# NBVAL_CHECK_OUTPUT` cells carry stored outputs.

nbval compares a cell's output only against an output stored in the notebook, so
the stored outputs of check cells *are* the test. `refresh` re-executes a
notebook and keeps exactly those outputs; `stray_output_cells` finds any other.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

CHECK_MARKER = "NBVAL_CHECK_OUTPUT"


def is_check_cell(cell) -> bool:
    """True for a code cell with a `# NBVAL_CHECK_OUTPUT` comment line (nbval's rule)."""
    if cell.get("cell_type") != "code":
        return False
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    return any(line.strip().lstrip("#").strip() == CHECK_MARKER
               for line in source.splitlines() if line.strip().startswith("#"))


def stray_output_cells(notebook) -> list[int]:
    """Indices of code cells that store outputs but are not check cells."""
    return [index for index, cell in enumerate(notebook["cells"])
            if cell.get("cell_type") == "code" and cell.get("outputs")
            and not is_check_cell(cell)]


def strip_outputs(notebook, keep_checks: bool = True):
    """Clear outputs and execution counts, except check cells' if `keep_checks`."""
    notebook.get("metadata", {}).pop("widgets", None)  # saved widget state is output too
    for cell in notebook["cells"]:
        if cell.get("cell_type") != "code":
            continue
        cell.get("metadata", {}).pop("execution", None)
        # nbval refuses a stored output whose cell has no execution count ("unrun").
        if not (keep_checks and is_check_cell(cell) and cell.get("outputs")):
            cell["execution_count"] = None
            cell["outputs"] = []
    return notebook


def _text(value) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(part, str) for part in value))


def shape_problem(data) -> str | None:
    """What keeps parsed JSON `data` from being a notebook this course can read, or None."""
    if not isinstance(data, dict):
        return f"the file holds a JSON {type(data).__name__}, a notebook holds an object"
    cells = data.get("cells")
    if not isinstance(cells, list):
        return ("it has no list of cells" if cells is None
                else f"its 'cells' is a {type(cells).__name__}, not a list")
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            return f"cell {index + 1} is not a cell (no cell_type)"
        if not _text(cell.get("source", "")):
            return f"cell {index + 1} has a source that is not text"
        outputs = cell.get("outputs", [])
        if not (isinstance(outputs, list) and all(isinstance(o, dict) for o in outputs)):
            return f"cell {index + 1} has outputs that are not a list of outputs"
    return None


def read(path: str | Path):
    """Read a notebook file (nbformat 4); ValueError, naming the file, if it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a Jupyter notebook: not UTF-8 text") from None
    try:
        problem = shape_problem(json.loads(text))
    except (json.JSONDecodeError, RecursionError) as error:
        problem = f"not valid JSON ({error})"
    if problem is None:
        try:
            return nbformat.reads(text, as_version=4)
        except (ValueError, TypeError, KeyError, AttributeError,
                nbformat.ValidationError) as error:
            problem = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise ValueError(f"{path}: not a Jupyter notebook: {problem}")


def write(notebook, path: str | Path) -> None:
    """Write a notebook file (nbformat 4)."""
    nbformat.write(notebook, str(path))


def _failed_cell(notebook) -> int | None:
    """Index of the first code cell that stores an error output (nbclient stops there)."""
    for index, cell in enumerate(notebook["cells"]):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return index
    return None


def execute(notebook, working_dir: str | Path, timeout_s: int = 900):
    """Run every cell of `notebook` in a fresh kernel started in `working_dir`.

    A cell that raises, hangs past `timeout_s` or kills the kernel is a ValueError
    naming the cell (its 1-based position in the notebook).
    """
    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(working_dir)}})
    try:
        client.execute()
    except CellExecutionError as error:  # also a cell that timed out
        index = _failed_cell(notebook)
        where = f"cell {index + 1}" if index is not None else "a cell"
        what = f"{error.ename}: {error.evalue}" if getattr(error, "ename", None) else (
            str(error).strip().splitlines() or ["it failed"])[-1]
        raise ValueError(f"{where} raised {what}") from None
    except DeadKernelError:
        raise ValueError("the kernel died while running the notebook") from None
    except TimeoutError:
        raise ValueError(f"a cell ran past the {timeout_s} s timeout") from None
    return notebook


def refresh(path: str | Path, timeout_s: int = 900) -> list[int]:
    """Re-execute the notebook at `path` and keep only check-cell outputs; return their indices."""
    path = Path(path)
    try:
        notebook = strip_outputs(execute(read(path), path.parent, timeout_s))
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}"
                         ) from None
    write(notebook, path)
    return [index for index, cell in enumerate(notebook["cells"]) if is_check_cell(cell)]
