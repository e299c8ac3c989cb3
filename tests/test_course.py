"""The course ships inside the wheel; `memwall-lab lab` copies it without losing work."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from memwall_lab import cli, course

ROOT = Path(__file__).resolve().parents[1]


def test_course_source_has_every_folder():
    source = course.course_source()
    for folder in course.ALL_FOLDERS:
        assert (source / folder).is_dir()
    assert (source / "notebooks" / "00_meet_your_machine.ipynb").is_file()


def test_copy_course_copies_then_keeps_edited_notebooks(tmp_path):
    first = course.copy_course(tmp_path)
    lesson = tmp_path / "notebooks" / "00_meet_your_machine.ipynb"
    assert "notebooks/00_meet_your_machine.ipynb" in first.copied
    assert not first.kept
    lesson.write_text(lesson.read_text().replace("Meet your machine", "My own notes"))
    second = course.copy_course(tmp_path)
    assert second.kept == ["notebooks/00_meet_your_machine.ipynb"]
    assert not second.copied
    assert "My own notes" in lesson.read_text(), "a student's edit must never be overwritten"
    assert "kept your edited notebooks/00_meet_your_machine.ipynb" in second.summary()


def test_solutions_are_not_copied_to_students(tmp_path):
    course.copy_course(tmp_path)
    assert not (tmp_path / "solutions").exists()


def test_copy_into_a_file_is_refused(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        course.copy_course(target)


def test_cli_lab_no_start(tmp_path, capsys):
    assert cli.main(["lab", str(tmp_path / "work"), "--no-start"]) == 0
    assert "copied" in capsys.readouterr().out
    assert (tmp_path / "work" / "notebooks" / "00_meet_your_machine.ipynb").is_file()


def test_start_lab_runs_jupyterlab_in_the_folder(tmp_path, monkeypatch):
    calls = []

    def fake_call(command, *args, **kwargs):
        calls.append(command)
        return 3  # JupyterLab's exit status must come back unchanged

    monkeypatch.setattr(course.subprocess, "call", fake_call)
    folder = tmp_path / "work"
    assert course.start_lab(folder) == 3
    assert calls == [[sys.executable, "-m", "jupyterlab", f"--notebook-dir={folder}",
                      "--ServerApp.allow_root=True"]]
    # `memwall-lab lab DIR` (without --no-start) copies, then starts JupyterLab in that DIR
    calls.clear()
    assert cli.main(["lab", str(folder)]) == 3
    (command,) = calls
    assert f"--notebook-dir={folder}" in command
    assert (folder / "notebooks" / "00_meet_your_machine.ipynb").is_file()


def _run(*command, **kwargs):
    # Without PYTHONPATH, so nothing from the clone can stand in for the installed wheel.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            env=environment, **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


# What the build reads (setup.py copies the course folders; MANIFEST.in grafts them).
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "memwall_lab",
                *course.ALL_FOLDERS)


def _setuptools_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(part) for part in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return (0, 0)


def test_wheel_carries_the_course_and_lab_works_from_it(tmp_path):
    # Built offline (no isolation: nothing is downloaded) from a copy of the repository, so the
    # build writes its build/ and *.egg-info/ into tmp_path, never into the clone.
    if _setuptools_version() < (77, 0):  # pyproject's `license = "MIT"` needs setuptools>=77
        pytest.skip("building the wheel needs setuptools>=77: pip install -e '.[test]'")
    source = tmp_path / "source"
    source.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=skip)
        else:
            shutil.copy2(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "-w", str(tmp_path), str(source))
    (wheel,) = tmp_path.glob("memwall_lab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for folder in course.ALL_FOLDERS:
        expected = {f"memwall_lab/course/{folder}/{p.name}"
                    for p in (ROOT / folder).glob("*.ipynb")}
        assert expected <= set(names), f"{folder} missing from the wheel"
    assert any(name.startswith("memwall_lab/data/") for name in names)
    # `memwall-lab check` runs nbval under pytest: a plain install must bring both
    (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
    requires = [line.split(":", 1)[1].split(";")[0].strip()
                for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert {"pytest", "nbval"} <= {re.split(r"[<>=!~ \[]", name)[0] for name in requires}

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    # Install the wheel's files with this interpreter's pip into the fresh environment.
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel))
    work = tmp_path / "work"
    result = _run(str(python), "-m", "memwall_lab", "lab", str(work), "--no-start",
                  cwd=tmp_path)
    assert "copied" in result.stdout
    where = _run(str(python), "-c", "import memwall_lab; print(memwall_lab.__file__)",
                 cwd=tmp_path).stdout
    assert str(venv) in where, "the test must exercise the installed wheel, not the clone"
    copied = {p.relative_to(work).as_posix() for p in work.rglob("*.ipynb")}
    shipped = {f"{folder}/{p.name}" for folder in course.STUDENT_FOLDERS
               for p in (ROOT / folder).glob("*.ipynb")}
    assert copied == shipped
