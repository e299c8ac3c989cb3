"""The `memwall-lab` command (also `python -m memwall_lab`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _report(args) -> int:
    from memwall_lab import report

    result = report.collect(quick=args.quick or None, progress=True)
    print(report.render(result))
    if args.json:
        print(f"\nwrote {report.save(result, args.json)}")
    if args.plot:
        print(f"wrote {report.save_roofline(result, args.plot)}")
    return 0


def _refresh(args) -> int:
    from memwall_lab import nbtools

    for path in args.notebooks:
        if args.no_execute:
            notebook = nbtools.strip_outputs(nbtools.read(path))
            nbtools.write(notebook, path)
            print(f"{path}: stripped every output except NBVAL_CHECK_OUTPUT cells")
        else:
            kept = nbtools.refresh(path)
            print(f"{path}: re-executed; kept the outputs of check cells {kept}")
    return 0


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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"memwall-lab: {error}", file=sys.stderr)
        return 2
