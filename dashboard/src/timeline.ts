// The span tree as Gantt rows: flattened depth-first, children of collapsed spans hidden,
// times in milliseconds from the trace's first span.
import type { SpanNode } from "./api/client";

export interface Row {
  span: SpanNode;
  depth: number;
  startMs: number; // from the trace start
  hasChildren: boolean;
}

export interface Bounds {
  startNs: number;
  durationMs: number;
}

/** The trace's start and length (the longest end of any span). */
export function bounds(roots: SpanNode[]): Bounds {
  let start = Infinity;
  let end = -Infinity;
  walk(roots, (s) => {
    start = Math.min(start, s.start_time_unix_nano);
    end = Math.max(end, s.start_time_unix_nano + s.duration_ms * 1e6);
  });
  if (start === Infinity) return { startNs: 0, durationMs: 0 };
  return { startNs: start, durationMs: (end - start) / 1e6 };
}

/** Visible rows, depth first, children in start order; a collapsed span hides its subtree. */
export function flatten(roots: SpanNode[], collapsed: ReadonlySet<string>, startNs: number): Row[] {
  const rows: Row[] = [];
  const stack: [SpanNode, number][] = byStart(roots)
    .reverse()
    .map((s) => [s, 0]);
  while (stack.length) {
    const [span, depth] = stack.pop()!;
    rows.push({
      span,
      depth,
      startMs: (span.start_time_unix_nano - startNs) / 1e6,
      hasChildren: span.children.length > 0,
    });
    if (collapsed.has(span.span_id)) continue;
    const kids = byStart(span.children);
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], depth + 1]);
  }
  return rows;
}

/** Every span of the trees, by id. */
export function index(roots: SpanNode[]): Map<string, SpanNode> {
  const out = new Map<string, SpanNode>();
  walk(roots, (s) => out.set(s.span_id, s));
  return out;
}

function byStart(spans: SpanNode[]): SpanNode[] {
  return [...spans].sort((a, b) => a.start_time_unix_nano - b.start_time_unix_nano);
}

function walk(roots: SpanNode[], visit: (s: SpanNode) => void): void {
  const stack = [...roots];
  while (stack.length) {
    const s = stack.pop()!;
    visit(s);
    stack.push(...s.children);
  }
}

/** Time to first token of an LLM span, in ms, if it has one. */
export function ttftMs(span: SpanNode): number | null {
  const v = span.attributes["ai.llm.ttft_ms"] ?? span.attributes["gen_ai.response.time_to_first_chunk"];
  if (v === undefined) return null;
  const n = Number(v);
  if (!Number.isFinite(n)) return null;
  return span.attributes["ai.llm.ttft_ms"] !== undefined ? n : n * 1000;
}

/** The GPUs a span ran on (its gpu.N.uuid attributes), in N order. */
export function gpuUuids(span: SpanNode): string[] {
  return Object.entries(span.attributes)
    .filter(([k]) => /^gpu\.\d+\.uuid$/.test(k))
    .sort(([a], [b]) => Number(a.split(".")[1]) - Number(b.split(".")[1]))
    .map(([, v]) => v);
}

/** Round tick spacing (ms) for a view `widthMs` wide showing about `count` ticks. */
export function tickStep(widthMs: number, count = 8): number {
  const raw = widthMs / count;
  if (raw <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

const MAX_STEP_TICKS = 200;

/** Step ticks of a diffusion span (ai.diffusion.steps), in ms from its start: evenly spaced
 * over the span, since spans record the step count and average step time, not each step. */
export function diffusionSteps(span: SpanNode): number[] {
  const n = Math.min(Number(span.attributes["ai.diffusion.steps"] ?? 0), MAX_STEP_TICKS);
  if (!Number.isInteger(n) || n <= 0) return [];
  return Array.from({ length: n }, (_, i) => ((i + 1) / n) * span.duration_ms);
}
