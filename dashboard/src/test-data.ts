// Spans for the component tests.
import type { SpanNode } from "./api/client";

export function span(id: string, startMs: number, durationMs: number, children: SpanNode[] = [],
  attributes: Record<string, string> = {}): SpanNode {
  return {
    span_id: id,
    parent_span_id: null,
    name: `span ${id}`,
    kind: 1,
    service: "svc",
    start_time_unix_nano: 1_700_000_000_000_000_000 + startMs * 1e6,
    duration_ms: durationMs,
    status_code: 0,
    status_message: "",
    attributes,
    events: [],
    children,
  };
}

/** A root with `n` children, each with one grandchild: 1 + 2n spans. */
export function wideTrace(n: number): SpanNode[] {
  const kids = Array.from({ length: n }, (_, i) =>
    span(`c${i}`, i, 2, [span(`g${i}`, i + 0.5, 1)]),
  );
  return [span("root", 0, n + 2, kids)];
}
