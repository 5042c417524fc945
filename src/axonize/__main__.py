"""``python -m axonize``: see ``python -m axonize --help``."""

from __future__ import annotations

from axonize_core._cli import main

raise SystemExit(main())
