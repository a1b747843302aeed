"""`python -m litecursor` runs the CLI."""

from .cli import main

raise SystemExit(main())
