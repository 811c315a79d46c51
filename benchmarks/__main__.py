"""``python -m benchmarks [analysis report host fleet] [--rounds N] [--quick]``."""

from benchmarks.run import main

raise SystemExit(main())
