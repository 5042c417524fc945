"""Headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) on the dashboard,
for the browser tests and the dashboard figures.

Launched with the flags that keep Chromium from calling hosts this network refuses; a page is
signed in by typing the tenant key into the sign-in form, as a person would.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("AXONIZE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
HOW = "nox -s tests_browser (installs chromium and playwright, builds the dashboard)"


def static_dir() -> Path:
    """Where the backend serves the built dashboard from."""
    from axonize_backend.api.dashboard import STATIC_DIR

    return STATIC_DIR


def missing() -> str | None:
    """Why the dashboard cannot be driven here (None when it can)."""
    if importlib.util.find_spec("playwright") is None:
        return f"playwright is not installed; run {HOW}"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}; run {HOW}"
    if not (static_dir() / "index.html").is_file():
        return f"the dashboard is not built; run nox -s dashboard (or {HOW})"
    return None


def launch(playwright: Any) -> Any:
    """A headless Chromium browser."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def sign_in(page: Any, url: str, key: str) -> None:
    """Open the dashboard at ``url`` and sign in with ``key``; returns once the traces page
    shows."""
    page.goto(url)
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")
    page.wait_for_selector("h2:has-text('Traces')")
