// The trace list's filters as they live in the URL (shareable), and as API parameters.
import type { TraceParams } from "./api/client";
import { sinceOf, WINDOWS } from "./format";

function width(range: string): number {
  return WINDOWS[range] ?? WINDOWS["24h"];
}

export const FILTER_KEYS = [
  "service",
  "model",
  "operation",
  "status",
  "min_ms",
  "max_ms",
  "attribute",
  "gpu",
  "range",
  "from",
  "to",
] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type Filters = Partial<Record<FilterKey, string>>;

export function filtersFrom(search: URLSearchParams): Filters {
  const out: Filters = {};
  for (const k of FILTER_KEYS) {
    const v = search.get(k);
    if (v) out[k] = v;
  }
  return out;
}

function number(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Unix ns of a `datetime-local` value (local time), if it is one. */
function localTime(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const t = new Date(text).getTime();
  return Number.isFinite(t) ? t * 1e6 : undefined;
}

/** The API's query for these filters: from `from` to `to` when given (one alone: `range`
 * wide), else the last `range` (24h by default) up to now. */
export function traceParams(f: Filters, limit: number, cursor?: string): TraceParams {
  const since = localTime(f.from);
  const until = localTime(f.to);
  const range = f.range ?? "24h";
  return {
    service: f.service,
    model: f.model,
    operation: f.operation,
    status: f.status === "ok" || f.status === "error" ? f.status : undefined,
    min_duration_ms: number(f.min_ms),
    max_duration_ms: number(f.max_ms),
    attribute: f.attribute?.includes("=") ? f.attribute : undefined,
    gpu: f.gpu,
    // Only an end: the range's width before it.
    since: since ?? (until === undefined ? sinceOf(range, "24h") : until - width(range) * 1e6),
    until,
    limit,
    cursor,
  };
}
