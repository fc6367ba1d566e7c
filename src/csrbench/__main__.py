"""`python -m csrbench ...`: the same command as the `csrbench` console script."""

from csrbench.cli import main

raise SystemExit(main())
