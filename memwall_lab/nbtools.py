"""Keep notebooks clean: only `# NBVAL_CHECK_OUTPUT` cells carry stored outputs.

nbval compares a cell's output only against an output stored in the notebook, so
the stored outputs of check cells *are* the test. `refresh` re-executes a
notebook and keeps exactly those outputs; `stray_output_cells` finds any other.
"""

from __future__ import annotations

from pathlib import Path

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


def read(path: str | Path):
    """Read a notebook file (nbformat 4)."""
    import nbformat

    return nbformat.read(str(path), as_version=4)


def write(notebook, path: str | Path) -> None:
    """Write a notebook file (nbformat 4)."""
    import nbformat

    nbformat.write(notebook, str(path))


def execute(notebook, working_dir: str | Path, timeout_s: int = 900):
    """Run every cell of `notebook` in a fresh kernel started in `working_dir`."""
    from nbclient import NotebookClient

    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(working_dir)}})
    client.execute()
    return notebook


def refresh(path: str | Path, timeout_s: int = 900) -> list[int]:
    """Re-execute the notebook at `path` and keep only check-cell outputs; return their indices."""
    path = Path(path)
    notebook = strip_outputs(execute(read(path), path.parent, timeout_s))
    write(notebook, path)
    return [index for index, cell in enumerate(notebook["cells"]) if is_check_cell(cell)]
