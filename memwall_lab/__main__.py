"""`python -m memwall_lab` runs the `memwall-lab` command."""

from memwall_lab.cli import main

raise SystemExit(main())
