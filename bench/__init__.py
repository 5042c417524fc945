"""Axonize's benchmark: every README figure, measured against its baseline in the same run.

Run ``python -m bench`` from the repository root (``nox -s bench`` installs what it needs);
``python -m bench --help`` lists the options and the figure groups.  :mod:`bench.harness` runs
the groups and reports; :mod:`bench.measure` holds the trial and interleaving primitives every
figure uses; each other module measures one group of figures.
"""

from __future__ import annotations
