// The trace list's filters as they live in the URL (shareable), and as API parameters.
import type { TraceParams } from "./api/client";
import { sinceOf } from "./format";

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

/** The API's query for these filters (the time range ends now). */
export function traceParams(f: Filters, limit: number, cursor?: string): TraceParams {
  return {
    service: f.service,
    model: f.model,
    operation: f.operation,
    status: f.status === "ok" || f.status === "error" ? f.status : undefined,
    min_duration_ms: number(f.min_ms),
    max_duration_ms: number(f.max_ms),
    attribute: f.attribute?.includes("=") ? f.attribute : undefined,
    gpu: f.gpu,
    since: sinceOf(f.range ?? "24h", "24h"),
    limit,
    cursor,
  };
}
