"""`python -m synthmatch` runs the command line."""

from synthmatch.cli import main

raise SystemExit(main())
