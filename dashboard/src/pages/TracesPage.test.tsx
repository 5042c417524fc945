import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TracePage, TraceSummary } from "../api/client";
import { AuthProvider } from "../auth";
import { TracesPage } from "./TracesPage";

function trace(n: number): TraceSummary {
  return {
    trace_id: n.toString(16).padStart(32, "0"),
    start_time_unix_nano: 1_700_000_000_000_000_000 - n * 1e9,
    duration_ms: 12.5,
    span_count: 3,
    error_count: n === 2 ? 1 : 0,
    root_name: `request ${n}`,
    service: "svc",
    model: "llama",
    operation: "chat",
    input_tokens: 10,
    output_tokens: 4,
    cost_usd: 0.5,
    ttft_ms: 40,
  };
}

function page(traces: TraceSummary[], next: string | null): Response {
  const body: TracePage = { traces, next_cursor: next };
  return Response.json(body);
}

function renderAt(url: string) {
  render(
    <AuthProvider>
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <MemoryRouter initialEntries={[url]}>
          <Routes>
            <Route path="/traces" element={<TracesPage />} />
          </Routes>
        </MemoryRouter>
      </QueryClientProvider>
    </AuthProvider>,
  );
}

beforeEach(() => sessionStorage.setItem("axonize.apiKey", "axk_test"));
afterEach(() => {
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe("TracesPage", () => {
  it("asks the API for the URL's filters and pages with its cursor", async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(page([trace(1), trace(2)], "NEXT"))
      .mockResolvedValueOnce(page([trace(3)], null));
    vi.stubGlobal("fetch", fetch);
    renderAt("/traces?service=svc&status=error&min_ms=10");
    expect(await screen.findByText("request 1")).toBeTruthy();
    const first = new URL(fetch.mock.calls[0][0], "http://x");
    expect(first.pathname).toBe("/api/v1/traces");
    expect(Object.fromEntries(first.searchParams)).toMatchObject({
      service: "svc",
      status: "error",
      min_duration_ms: "10",
      limit: "50",
    });
    expect(screen.getAllByText("40 ms")).toHaveLength(2); // the TTFT column
    fireEvent.click(screen.getByText("Older traces"));
    expect(await screen.findByText("request 3")).toBeTruthy();
    expect(new URL(fetch.mock.calls[1][0], "http://x").searchParams.get("cursor")).toBe("NEXT");
    expect(screen.queryByText("Older traces")).toBeNull();
  });

  it("says what to run when there is nothing, and what failed on an error", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(page([], null)));
    renderAt("/traces");
    expect(await screen.findByText("No traces in this range")).toBeTruthy();
    expect(screen.getByText(/nox -s demo/)).toBeTruthy();
  });

  it("shows the API's problem detail", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn().mockResolvedValue(
        Response.json({ title: "Bad Request", detail: "invalid cursor" }, { status: 400 }),
      ),
    );
    renderAt("/traces");
    expect((await screen.findByRole("alert")).textContent).toMatch(
      /Could not load traces\. 400 Bad Request: invalid cursor/,
    );
  });
});
