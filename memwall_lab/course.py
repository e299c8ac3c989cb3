"""Where the course's notebooks live, and copying them into a student's folder.

`memwall-lab lab [DIR]` copies the lessons and exercises into DIR and starts
JupyterLab there, so `pip install memwall-lab` then `memwall-lab lab` is a
complete start. A notebook already in DIR that differs from the course's copy
is the student's work: it is kept, never overwritten, and the command says so.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

STUDENT_FOLDERS = ("notebooks", "exercises")  # solutions stay inside the package
ALL_FOLDERS = (*STUDENT_FOLDERS, "solutions")


def course_source() -> Path:
    """The folder holding notebooks/, exercises/ and solutions/: in the wheel or the clone."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "course", package.parent):
        if (candidate / "notebooks").is_dir():
            return candidate
    raise ValueError(f"the course notebooks were not found next to {package}: reinstall "
                     "memwall-lab, or run from a clone of the course")


@dataclass
class CopyReport:
    """What copying the course did, file by file (paths relative to the target folder)."""

    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the terminal: counts, and every kept file by name."""
        lines = [f"copied {len(self.copied)} notebooks, {len(self.unchanged)} already up to date"]
        lines += [f"kept your edited {name} (the course's copy was not written over it)"
                  for name in self.kept]
        return "\n".join(lines)


def copy_course(target: str | Path, source: str | Path | None = None) -> CopyReport:
    """Copy the course notebooks into `target`, never overwriting a notebook that differs."""
    source = Path(source) if source is not None else course_source()
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} exists and is not a folder")
    report = CopyReport()
    for folder in STUDENT_FOLDERS:
        for notebook in sorted((source / folder).glob("*.ipynb")):
            destination = target / folder / notebook.name
            name = f"{folder}/{notebook.name}"
            if not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(notebook, destination)
                report.copied.append(name)
            elif filecmp.cmp(notebook, destination, shallow=False):
                report.unchanged.append(name)
            else:
                report.kept.append(name)
    return report


def start_lab(folder: str | Path) -> int:
    """Start JupyterLab in `folder` (blocks until it stops); return its exit status."""
    # allow_root: course containers (Docker, some hubs) often run as root.
    command = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={Path(folder)}",
               "--ServerApp.allow_root=True"]
    return subprocess.call(command)
