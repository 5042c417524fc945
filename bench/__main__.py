"""``python -m bench``: see :mod:`bench.harness`."""

from __future__ import annotations

from bench.harness import main

# Guarded: the export group's sink is a spawned process, which imports this module again.
if __name__ == "__main__":
    raise SystemExit(main())
