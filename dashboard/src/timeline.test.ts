import { describe, expect, it } from "vitest";
import { bounds, diffusionSteps, flatten, gpuUuids, tickStep, ttftMs } from "./timeline";
import { span, wideTrace } from "./test-data";

describe("flatten", () => {
  it("lists spans depth first in start order, children indented", () => {
    const roots = [span("r", 0, 10, [span("late", 5, 1), span("early", 1, 1, [span("x", 2, 1)])])];
    const { startNs } = bounds(roots);
    const rows = flatten(roots, new Set(), startNs);
    expect(rows.map((r) => [r.span.span_id, r.depth])).toEqual([
      ["r", 0],
      ["early", 1],
      ["x", 2],
      ["late", 1],
    ]);
    expect(rows[1].startMs).toBeCloseTo(1);
  });

  it("hides the subtree of a collapsed span", () => {
    const roots = wideTrace(3);
    const all = flatten(roots, new Set(), bounds(roots).startNs);
    expect(all).toHaveLength(7);
    const folded = flatten(roots, new Set(["c0", "c2"]), bounds(roots).startNs);
    expect(folded.map((r) => r.span.span_id)).toEqual(["root", "c0", "c1", "g1", "c2"]);
    expect(flatten(roots, new Set(["root"]), 0)).toHaveLength(1);
  });

  it("handles thousands of spans without recursion", () => {
    let deep = span("leaf", 0, 1);
    for (let i = 0; i < 5000; i++) deep = span(`d${i}`, 0, 1, [deep]);
    expect(flatten([deep], new Set(), 0)).toHaveLength(5001);
  });
});

describe("span figures", () => {
  it("bounds cover the latest end, not the root's", () => {
    const b = bounds([span("r", 0, 5, [span("c", 3, 10)])]);
    expect(b.durationMs).toBeCloseTo(13);
  });

  it("reads TTFT in ms from either attribute", () => {
    expect(ttftMs(span("a", 0, 1, [], { "ai.llm.ttft_ms": "42.5" }))).toBe(42.5);
    expect(ttftMs(span("a", 0, 1, [], { "gen_ai.response.time_to_first_chunk": "0.25" }))).toBe(
      250,
    );
    expect(ttftMs(span("a", 0, 1))).toBeNull();
  });

  it("lists the GPUs in attribute order", () => {
    const s = span("a", 0, 1, [], { "gpu.1.uuid": "B", "gpu.0.uuid": "A", "gpu.0.name": "x" });
    expect(gpuUuids(s)).toEqual(["A", "B"]);
  });

  it("spreads a diffusion span's steps over it", () => {
    expect(diffusionSteps(span("d", 0, 100, [], { "ai.diffusion.steps": "4" }))).toEqual([
      25, 50, 75, 100,
    ]);
    expect(diffusionSteps(span("d", 0, 100))).toEqual([]);
    expect(diffusionSteps(span("d", 0, 1, [], { "ai.diffusion.steps": "1e6" }))).toHaveLength(200);
  });

  it("picks round tick steps", () => {
    expect(tickStep(1000)).toBe(200);
    expect(tickStep(7)).toBe(1);
    expect(tickStep(0.03)).toBeCloseTo(0.005);
  });
});
