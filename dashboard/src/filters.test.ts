import { describe, expect, it } from "vitest";
import { filtersFrom, traceParams } from "./filters";

describe("trace filters", () => {
  it("come from the URL and become API parameters", () => {
    const f = filtersFrom(new URLSearchParams("service=a&status=error&min_ms=5&attribute=k%3Dv&x=1"));
    expect(f).toEqual({ service: "a", status: "error", min_ms: "5", attribute: "k=v" });
    const p = traceParams(f, 50, "CUR");
    expect(p).toMatchObject({
      service: "a",
      status: "error",
      min_duration_ms: 5,
      attribute: "k=v",
      limit: 50,
      cursor: "CUR",
    });
    expect(p.since).toBeGreaterThan((Date.now() - 25 * 3600_000) * 1e6);
  });

  it("take an explicit time range over the preset one", () => {
    const p = traceParams({ range: "1h", from: "2026-01-02T03:04", to: "2026-01-02T05:00" }, 5);
    expect(p.since).toBe(new Date("2026-01-02T03:04").getTime() * 1e6);
    expect(p.until).toBe(new Date("2026-01-02T05:00").getTime() * 1e6);
    // Only an end: the range's width before it (the API's default start is a day before now).
    expect(traceParams({ range: "1h", to: "2026-01-02T05:00" }, 5).since).toBe(
      (new Date("2026-01-02T05:00").getTime() - 3_600_000) * 1e6,
    );
  });

  it("drop what the API would refuse", () => {
    const p = traceParams({ status: "maybe", min_ms: "-1", max_ms: "x", attribute: "novalue" }, 10);
    expect([p.status, p.min_duration_ms, p.max_duration_ms, p.attribute]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
