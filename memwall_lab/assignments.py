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

Each exercise notebook records a fingerprint of what was generated (its cells'
sources and check outputs) in `metadata["memwall_lab"]["generated_sha256"]`.
Regenerating overwrites a notebook only while it still matches its fingerprint
(or the new generation): an exercise a student edited is kept, unless forced.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from memwall_lab import check, nbtools

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = 'raise NotImplementedError("replace this line with your answer")'
MARKDOWN_STUB = "YOUR ANSWER HERE"
RAISES_MARKER = "# NBVAL_RAISES_EXCEPTION"
METADATA_KEY = "memwall_lab"  # notebook metadata this tool writes
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


def fingerprint(notebook) -> str:
    """SHA-256 of what a student can change: each cell's type and source, check outputs."""
    content = []
    for cell in notebook["cells"]:
        checks = [o.get("text", "") for o in cell.get("outputs", [])
                  if o.get("output_type") == "stream"] if nbtools.is_check_cell(cell) else []
        content.append([cell.get("cell_type"), _source(cell),
                        ["".join(t) if isinstance(t, list) else t for t in checks]])
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def recorded_fingerprint(notebook) -> str | None:
    """The fingerprint stored when the notebook was generated, or None."""
    stored = notebook.get("metadata", {}).get(METADATA_KEY, {})
    return stored.get("generated_sha256") if isinstance(stored, dict) else None


def make_exercise(solution):
    """The exercise notebook for a solution notebook: stubs, no answers, no stray outputs."""
    exercise = copy.deepcopy(solution)
    exercise["cells"] = [exercise_cell(cell) for cell in solution["cells"]]
    exercise = nbtools.strip_outputs(exercise)
    exercise.setdefault("metadata", {})[METADATA_KEY] = {
        "generated_sha256": fingerprint(exercise)}
    return exercise


def leaks(notebook) -> list[str]:
    """Problems that would reveal answers: markers left in any cell."""
    return [f"cell {index} still has a solution marker"
            for index, cell in enumerate(notebook["cells"]) if has_solution(_source(cell))]


@dataclass
class Generated:
    """What `generate` did: notebooks written, and notebooks kept with the reason."""

    written: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)


def edited_by_hand(path: Path, exercise) -> str | None:
    """Why the notebook at `path` is a student's work not to overwrite, or None if it is not.

    Untouched means: its content still matches the fingerprint recorded when it
    was generated, or it already holds what `exercise` (the new generation) holds.
    """
    try:
        current = nbtools.read(path)
    except (ValueError, OSError) as error:
        return f"not a notebook this tool wrote ({error})"
    if fingerprint(current) in (recorded_fingerprint(current), fingerprint(exercise)):
        return None
    return "edited by hand"


def generate(solutions_dir: str | Path, exercises_dir: str | Path,
             force: bool = False) -> Generated:
    """Write exercises_dir/NN_*.ipynb for every solutions_dir/NN_*.ipynb.

    A notebook a student has edited is kept (see `edited_by_hand`) unless `force`.
    """
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    sources = sorted(solutions_dir.glob("*.ipynb"))
    if not sources:
        raise ValueError(f"no solution notebooks (*.ipynb) found in {solutions_dir}")
    exercises_dir.mkdir(parents=True, exist_ok=True)
    done = Generated()
    for source in sources:
        target = exercises_dir / source.name
        exercise = make_exercise(nbtools.read(source))
        reason = None if force or not target.exists() else edited_by_hand(target, exercise)
        if reason:
            done.kept.append((target, reason))
            continue
        nbtools.write(exercise, target)
        done.written.append(target)
    return done
