import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, within } from "@testing-library/react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CostByOwner as Cost, CostGroup } from "../api/client";
import { AuthProvider } from "../auth";
import { CostByOwner } from "./CostByOwner";

function group(owner: string, cost: number, budget: CostGroup["budget"] = null): CostGroup {
  return { owner, spans: 3, cost_usd: cost, gpu_seconds: 1.5, budget };
}

function budget(spent: number, exceeded: boolean): CostGroup["budget"] {
  return { name: "team-daily", limit_usd: 1, spent_usd: spent, exceeded };
}

function answer(groups: CostGroup[], group_by = "team"): Response {
  const body: Cost = { since_unix_nano: 0, until_unix_nano: 1, group_by, groups };
  return Response.json(body);
}

function Where() {
  const { search } = useLocation();
  return <div data-testid="search">{search}</div>;
}

function client(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false } } });
}

function renderAt(url: string) {
  render(
    <AuthProvider>
      <QueryClientProvider client={client()}>
        <MemoryRouter initialEntries={[url]}>
          <Routes>
            <Route
              path="/analytics"
              element={
                <>
                  <CostByOwner window="1h" />
                  <Where />
                </>
              }
            />
          </Routes>
        </MemoryRouter>
      </QueryClientProvider>
    </AuthProvider>,
  );
}

function asked(fetch: ReturnType<typeof vi.fn>, call: number): URL {
  return new URL(fetch.mock.calls[call][0], "http://x");
}

class NoResize {
  observe() {}
  unobserve() {}
  disconnect() {}
}

beforeEach(() => {
  sessionStorage.setItem("axonize.apiKey", "axk_test");
  vi.stubGlobal("ResizeObserver", NoResize);
});
afterEach(() => {
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe("CostByOwner", () => {
  it("lists each owner's cost and budget state for the URL's grouping", async () => {
    const fetch = vi.fn().mockResolvedValue(
      answer(
        [
          group("support", 1.25, budget(1.25, true)),
          group("search", 0.5, budget(0.5, false)),
          group("", 0.25),
        ],
        "project",
      ),
    );
    vi.stubGlobal("fetch", fetch);
    renderAt("/analytics?window=1h&by=project");
    const table = await screen.findByTestId("owner-table");
    const url = asked(fetch, 0);
    expect(url.pathname).toBe("/api/v1/analytics/cost");
    expect(url.searchParams.get("group_by")).toBe("project");
    expect(within(table).getByText("Project")).toBeTruthy();
    const rows = within(table).getAllByRole("row").slice(1).map((r) => r.textContent);
    expect(rows).toEqual([
      expect.stringMatching(/^support\$1\.253.*team-daily\$1\.25 \/ \$1\.00over budget$/),
      expect.stringMatching(/^search\$0\.503.*team-daily\$0\.50 \/ \$1\.00under budget$/),
      expect.stringMatching(/^\(no owner\)\$0\.253.*none/),
    ]);
    expect(screen.getByTestId("chart-owner-cost")).toBeTruthy();
  });

  it("asks again when another grouping is chosen, and keeps it in the URL", async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(answer([group("search", 1)]))
      .mockResolvedValueOnce(answer([group("acme", 2)], "customer_id"));
    vi.stubGlobal("fetch", fetch);
    renderAt("/analytics?window=1h");
    await screen.findByText("search");
    expect(asked(fetch, 0).searchParams.get("group_by")).toBe("team");
    fireEvent.change(screen.getByRole("combobox"), { target: { value: "customer_id" } });
    expect(await screen.findByText("acme")).toBeTruthy();
    expect(asked(fetch, 1).searchParams.get("group_by")).toBe("customer_id");
    expect(screen.getByTestId("search").textContent).toBe("?window=1h&by=customer_id");
  });

  it("says how to get owners when no span has one", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(answer([group("", 3)])));
    renderAt("/analytics");
    expect(await screen.findByText("No span in this window has a team")).toBeTruthy();
    expect(screen.queryByTestId("owner-table")).toBeNull();
    expect(screen.getByText('with axonize.owner(team="..."):')).toBeTruthy();
    const link = screen.getByRole("link", { name: "docs/collector.md" });
    expect(link.getAttribute("href")).toMatch(/docs\/collector\.md/);
  });

  it("shows the API's problem detail, and loading before", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn().mockResolvedValue(
        Response.json({ title: "Bad Request", detail: "bad group_by" }, { status: 400 }),
      ),
    );
    renderAt("/analytics?by=nonsense");
    expect(screen.getByRole("status").textContent).toMatch(/Loading cost by owner/);
    expect((await screen.findByRole("alert")).textContent).toMatch(
      /Could not load cost by owner\. 400 Bad Request: bad group_by/,
    );
  });
});
