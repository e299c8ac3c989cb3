"""The `memwall-lab` command (also `python -m memwall_lab`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _check_output(path: str, what: str, suffix: str | None = None) -> None:
    """Raise ValueError unless `path` names a writable file (ending in `suffix`).

    Checked before any measuring, so a bad path costs nothing: the file is created
    and removed again (an existing one is opened for appending, which keeps it).
    """
    if not str(path).strip():
        raise ValueError(f"give a file name for the {what}, not an empty one")
    path = Path(path)
    if suffix and path.suffix.lower() != suffix:
        raise ValueError(f"{path}: the {what} is a {suffix[1:].upper()} file, give a name "
                         f"ending in {suffix}")
    if not path.parent.is_dir():
        raise ValueError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, give a file name for the {what}")
    existed = path.exists()
    try:
        with open(path, "a" if existed else "x"):
            pass
        if not existed:
            path.unlink()
    except OSError as error:
        raise ValueError(f"{path}: cannot write the {what} there "
                         f"({error.strerror or error})") from None


def _report(args) -> int:
    from memwall_lab import report

    if args.json is not None:
        _check_output(args.json, "report")
    if args.plot is not None:
        _check_output(args.plot, "plot", ".png")
    result = report.collect(quick=args.quick or None, progress=True)
    print(report.render(result))
    if args.json is not None:
        print(f"\nwrote {report.save(result, args.json)}")
    if args.plot is not None:
        print(f"wrote {report.save_roofline(result, args.plot)}")
    return 0


def _refresh(args) -> int:
    from memwall_lab import nbtools

    failed = 0
    for path in args.notebooks:
        try:
            if args.no_execute:
                notebook = nbtools.strip_outputs(nbtools.read(path))
                nbtools.write(notebook, path)
                print(f"{path}: stripped every output except NBVAL_CHECK_OUTPUT cells")
            else:
                kept = nbtools.refresh(path)
                print(f"{path}: re-executed; kept the outputs of check cells {kept}")
        except (ValueError, OSError) as error:  # report it, and refresh the other notebooks
            failed += 1
            print(f"memwall-lab: {_one_line(error)}", file=sys.stderr, flush=True)
    if failed and len(args.notebooks) > 1:
        print(f"memwall-lab: {failed} of {len(args.notebooks)} notebooks were not refreshed",
              file=sys.stderr)
    return 2 if failed else 0


def course_root() -> Path:
    """The course folder: the current one if it holds solutions/, else the installed course."""
    from memwall_lab.course import course_source

    here = Path.cwd()
    return here if (here / "solutions").is_dir() else course_source()


def _lab(args) -> int:
    from memwall_lab import course

    print(f"copying the course into {args.folder.resolve()} ...")
    print(course.copy_course(args.folder).summary())
    if args.no_start:
        return 0
    return course.start_lab(args.folder)


def _make_exercises(args) -> int:
    from memwall_lab import assignments

    root = course_root()
    solutions = args.solutions or root / "solutions"
    exercises = args.exercises or root / "exercises"
    done = assignments.generate(solutions, exercises, force=args.force)
    for path in done.written:
        print(f"wrote {path}")
    for path, reason in done.kept:
        print(f"kept {path}: {reason} (use --force to overwrite)")
    return 0


def machine_state_line() -> str | None:
    """One line on how busy this machine is now, where memwall_lab.machine_state can tell."""
    try:
        from memwall_lab import machine_state

        return machine_state.assess().line()
    except Exception:  # optional: a check runs the same without it
        return None


def _check(args) -> int:
    from memwall_lab import grading

    root = course_root()
    solutions_dirs = [args.solutions] if args.solutions else [root / "solutions"]
    notebooks = args.notebooks or sorted((Path.cwd() / "exercises").glob("*.ipynb")) or sorted(
        (root / "exercises").glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"no exercise notebooks given and none found in {root / 'exercises'}")
    state = machine_state_line()
    if state:
        print(state)
    all_passed, unreadable = True, 0
    for path in notebooks:
        try:
            if not Path(path).is_file():
                raise ValueError(f"{path}: no such notebook")
            solution = grading.find_solution(path, solutions_dirs)
            print(f"checking {path} against {solution.name} (this runs the notebook, "
                  f"at most {args.timeout:g} s a cell) ...", flush=True)
            results = grading.grade(path, solution, timeout_s=args.timeout,
                                    progress=lambda line: print(line, flush=True))
        except (ValueError, OSError) as error:  # report it, and check the other notebooks
            unreadable += 1
            print(f"memwall-lab: {_one_line(error)}", file=sys.stderr, flush=True)
            continue
        print(grading.scorecard(Path(path).name, results), flush=True)
        all_passed &= bool(results) and all(r.passed for r in results)
    if unreadable:
        print(f"memwall-lab: {unreadable} of {len(notebooks)} notebooks could not be checked",
              file=sys.stderr)
        return 2
    return 0 if all_passed else 1


def _compare(args) -> int:
    from memwall_lab import compare

    if args.plot is not None:
        _check_output(args.plot, "plot", ".png")
    return compare.run(args.paths, plot_path=args.plot)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface: one sub-command per task."""
    parser = argparse.ArgumentParser(
        prog="memwall-lab", description="The memory-wall course: measure your own machine.")
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="measure this machine and print a table")
    report.add_argument("--quick", action="store_true", help="a short run (about 10 s)")
    report.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    report.add_argument("--plot", metavar="PATH", help="also draw this machine's roofline PNG")
    report.set_defaults(run=_report)

    refresh = commands.add_parser(
        "refresh-outputs",
        help="re-execute notebooks and keep only the outputs of # NBVAL_CHECK_OUTPUT cells")
    refresh.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    refresh.add_argument("--no-execute", action="store_true",
                         help="only strip outputs, do not run the notebook")
    refresh.set_defaults(run=_refresh)

    lab = commands.add_parser("lab", help="copy the course into a folder and open JupyterLab")
    lab.add_argument("folder", nargs="?", type=Path, default=Path("memwall-course"),
                     help="working folder (default ./memwall-course); edited notebooks are kept")
    lab.add_argument("--no-start", action="store_true", help="copy only, do not start JupyterLab")
    lab.set_defaults(run=_lab)

    compare = commands.add_parser(
        "compare", help="compare report JSON files from a class's machines (for instructors)")
    compare.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_DIR")
    compare.add_argument("--plot", metavar="PATH", help="also draw the class figure (PNG)")
    compare.set_defaults(run=_compare)

    make = commands.add_parser("make-exercises",
                               help="generate exercises/ from solutions/ (never edit exercises)")
    make.add_argument("--solutions", type=Path, help="solution notebooks (default solutions/)")
    make.add_argument("--exercises", type=Path, help="where to write (default exercises/)")
    make.add_argument("--force", action="store_true",
                      help="also overwrite exercise notebooks edited by hand")
    make.set_defaults(run=_make_exercises)

    check = commands.add_parser(
        "check", help="run your exercise notebooks and print a scorecard (exit 0 if all pass)")
    check.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                       help="exercise notebooks (default: every one in exercises/)")
    check.add_argument("--solutions", type=Path, help="solution notebooks (default solutions/)")
    check.add_argument("--timeout", type=_seconds, default=600, metavar="SECONDS",
                       help="stop a cell that runs longer than this (default 600)")
    check.set_defaults(run=_check)
    return parser


def _seconds(text: str) -> float:
    """argparse type: a positive number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"give a positive number of seconds, not {text!r}")
    return seconds


def _one_line(error: Exception) -> str:
    """An error for stderr: 'file: reason' for a file error, else its message."""
    if isinstance(error, OSError) and error.strerror:
        return (f"{error.filename}: " if error.filename else "") + error.strerror
    return str(error).strip() or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as error:  # bad input, a missing file: one line, no traceback
        print(f"memwall-lab: {_one_line(error)}", file=sys.stderr)
        return 2  # as for bad input: `check` keeps 1 for "a check failed"
