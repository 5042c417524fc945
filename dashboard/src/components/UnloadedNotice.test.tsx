import { act, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiGet } from "../api/client";
import { UnloadedNotice } from "./UnloadedNotice";

afterEach(() => {
  vi.unstubAllGlobals();
});

function answer(headers: Record<string, string>) {
  vi.stubGlobal(
    "fetch",
    vi.fn().mockResolvedValue(Response.json({ traces: [], next_cursor: null }, { headers })),
  );
}

describe("UnloadedNotice", () => {
  it("says so while the server answers before storing what it received", async () => {
    render(<UnloadedNotice />);
    expect(screen.queryByRole("status")).toBeNull();
    answer({ "axonize-unloaded-bytes": "3145728" });
    await act(() => apiGet("/traces", "axk_key"));
    expect(screen.getByRole("status").textContent).toMatch(/still storing spans it received \(3 MiB to go\)/);
    answer({});
    await act(() => apiGet("/traces", "axk_key"));
    expect(screen.queryByRole("status")).toBeNull();
  });
});
