"""Hatch build hook: a wheel ships the built dashboard (``axonize_backend/static``).

A wheel built where the dashboard is not built yet (a clean clone) builds it first with npm
(``npm ci`` and ``vite build`` in ``dashboard/``; Node 20 and npm from the machine's packages).
Editable installs are left alone (``nox -s dashboard`` builds into the same folder), and so is
a build with ``AXONIZE_SKIP_DASHBOARD=1``: that wheel's server answers ``/`` with a page that
says how to build the dashboard.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DashboardBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        static = root / "backend" / "axonize_backend" / "static"
        source = root / "dashboard"
        if self.target_name != "wheel" or version == "editable":
            return
        if (static / "index.html").is_file() or os.environ.get("AXONIZE_SKIP_DASHBOARD"):
            return
        if not (source / "package.json").is_file():
            self.app.display_warning("no dashboard/ to build: the wheel ships no dashboard")
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "building the wheel's dashboard needs npm (apt-get install nodejs npm), or set "
                "AXONIZE_SKIP_DASHBOARD=1 for a wheel without it")
        self.app.display_info("building the dashboard (npm ci, vite build) ...")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=source, check=True)
        subprocess.run([npm, "run", "build"], cwd=source, check=True)
