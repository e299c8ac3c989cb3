"""Exercise notebooks generated from solution notebooks (`memwall-lab make-exercises`).

`solutions/NN_*.ipynb` is the single source. Answers sit between nbgrader's
markers, `### BEGIN SOLUTION` and `### END SOLUTION`:

- in a code cell the region becomes `raise NotImplementedError(...)` at the
  marker's indentation, and the cell gains `# NBVAL_RAISES_EXCEPTION` so an
  untouched exercise notebook still runs top to bottom under nbval;
- in a markdown cell the region becomes "YOUR ANSWER HERE";
- outputs are stripped, except in check cells (`# NBVAL_CHECK_OUTPUT`), whose
  stored "passed" lines become "not done yet": nbval then proves that an
  untouched exercise notebook reports every exercise as not done.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from memwall_lab import check, nbtools

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = 'raise NotImplementedError("replace this line with your answer")'
MARKDOWN_STUB = "YOUR ANSWER HERE"
RAISES_MARKER = "# NBVAL_RAISES_EXCEPTION"
_PASSED_LINE = re.compile(rf"^(.*): {check.PASSED}$", re.MULTILINE)


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def replace_solutions(source: str, stub: str) -> str:
    """Replace every BEGIN/END SOLUTION region of `source` by `stub` at the marker's indent."""
    lines, out, inside = source.splitlines(), [], False
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"line {number}: {BEGIN} inside another solution region")
            inside = True
            out.append(text[: len(text) - len(text.lstrip())] + stub)
        elif stripped == END:
            if not inside:
                raise ValueError(f"line {number}: {END} without a {BEGIN} before it")
            inside = False
        elif not inside:
            out.append(text)
    if inside:
        raise ValueError(f"a {BEGIN} region is never closed by {END}")
    return "\n".join(out)


def has_solution(source: str) -> bool:
    """True if `source` contains a solution marker."""
    return BEGIN in source or END in source


def exercise_cell(cell):
    """The exercise version of one solution cell (a new cell; the input is not changed)."""
    cell = copy.deepcopy(cell)
    source = _source(cell)
    if cell.get("cell_type") == "markdown" and has_solution(source):
        cell["source"] = replace_solutions(source, MARKDOWN_STUB)
    elif cell.get("cell_type") == "code":
        if has_solution(source):
            cell["source"] = RAISES_MARKER + "\n" + replace_solutions(source, CODE_STUB)
        if nbtools.is_check_cell(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    output["text"] = _PASSED_LINE.sub(rf"\1: {check.NOT_DONE}", output["text"])
    return cell


def make_exercise(solution):
    """The exercise notebook for a solution notebook: stubs, no answers, no stray outputs."""
    exercise = copy.deepcopy(solution)
    exercise["cells"] = [exercise_cell(cell) for cell in solution["cells"]]
    return nbtools.strip_outputs(exercise)


def leaks(notebook) -> list[str]:
    """Problems that would reveal answers: markers left in any cell."""
    return [f"cell {index} still has a solution marker"
            for index, cell in enumerate(notebook["cells"]) if has_solution(_source(cell))]


def generate(solutions_dir: str | Path, exercises_dir: str | Path) -> list[Path]:
    """Write exercises_dir/NN_*.ipynb for every solutions_dir/NN_*.ipynb; return the paths."""
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    sources = sorted(solutions_dir.glob("*.ipynb"))
    if not sources:
        raise ValueError(f"no solution notebooks (*.ipynb) found in {solutions_dir}")
    exercises_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        target = exercises_dir / source.name
        nbtools.write(make_exercise(nbtools.read(source)), target)
        written.append(target)
    return written
