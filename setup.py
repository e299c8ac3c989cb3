"""Build hook: the wheel carries the course notebooks inside the package.

Everything else is declared in pyproject.toml. notebooks/, exercises/ and
solutions/ live at the top of the repository (where students and nbval use
them); `build_py` copies them to memwall_lab/course/ in the wheel, so
`memwall-lab lab` and `memwall-lab check` work from a plain `pip install`.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

COURSE_FOLDERS = ("notebooks", "exercises", "solutions")


class BuildPyWithCourse(build_py):
    """build_py that also copies the course notebooks into the built package."""

    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        course = Path(self.build_lib) / "memwall_lab" / "course"
        for folder in COURSE_FOLDERS:
            for notebook in sorted((root / folder).glob("*.ipynb")):
                destination = course / folder / notebook.name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(notebook, destination)


setup(cmdclass={"build_py": BuildPyWithCourse})
