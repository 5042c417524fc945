"""``/``: the dashboard, the built single-page app in ``axonize_backend/static`` (no Node at run
time); without a build, a page that says how to make one."""

from __future__ import annotations

from pathlib import Path

from litestar import Controller, MediaType, Router, get
from litestar.static_files import create_static_files_router

#: Where ``nox -s dashboard`` (``vite build``) puts the dashboard; the wheel ships it.
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Axonize: dashboard not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The Axonize dashboard is not built</h1>
<p>This axonize-server runs from a checkout without the dashboard's assets. Build them
(Node 20 and npm needed once, not at run time) and restart the server:</p>
<pre>nox -s dashboard</pre>
<p>It puts them in <code>axonize_backend/static/</code>; a wheel built afterwards ships them.
The REST API is unaffected: <a href="schema">OpenAPI schema</a>.</p>
</body></html>
"""


class DashboardMissing(Controller):
    """``/`` when the dashboard's assets are absent."""

    path = "/"
    include_in_schema = False

    @get("/", media_type=MediaType.HTML, sync_to_thread=False)
    def not_built(self) -> str:
        return NOT_BUILT


def dashboard_router(static_dir: Path = STATIC_DIR) -> Router | type[Controller]:
    """What answers ``/``: the built dashboard, or the page that says how to build it."""
    if (static_dir / "index.html").is_file():
        return create_static_files_router(
            path="/", directories=[static_dir], html_mode=True, name="dashboard"
        )
    return DashboardMissing
