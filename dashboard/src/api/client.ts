// The REST API of axonize-server: typed from its OpenAPI schema (schema.d.ts, generated).
import type { components, paths } from "./schema";
import { noteUnloaded } from "./unloaded";

type Schemas = components["schemas"];
export type TraceSummary = Schemas["TraceSummary"];
export type TracePage = Schemas["TracePage"];
export type TraceDetail = Schemas["TraceDetail"];
export type SpanNode = Schemas["SpanNode"];
export type GpuSeries = Schemas["GpuSeries"];
export type SeriesPoint = Schemas["SeriesPoint"];
export type Overview = Schemas["Overview"];
export type ModelFigures = Schemas["ModelFigures"];
export type BucketFigures = Schemas["BucketFigures"];
export type CostByOwner = Schemas["CostByOwner"];
export type CostGroup = Schemas["CostGroup"];
export type BudgetState = Schemas["BudgetState"];
/** What GET /api/v1/analytics/cost groups by (an owner field). */
export type GroupBy = NonNullable<
  NonNullable<paths["/api/v1/analytics/cost"]["get"]["parameters"]["query"]>["group_by"]
>;
/** The query parameters of GET /api/v1/traces, as the schema names them. */
export type TraceParams = NonNullable<paths["/api/v1/traces"]["get"]["parameters"]["query"]>;

/** A failed call, with what the server said (RFC 9457 problem `detail`) or why none came. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Params = Record<string, string | number | undefined | null>;

export function query(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

/** GET an API path with the tenant key as a header (never in the URL). */
export async function apiGet<T>(path: string, key: string, params: Params = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`api/v1${path}${query(params)}`, {
      headers: { authorization: `Bearer ${key}`, accept: "application/json" },
    });
  } catch (e) {
    throw new ApiError(0, `Cannot reach axonize-server (${String(e)}).`);
  }
  if (!response.ok) throw new ApiError(response.status, await problem(response));
  noteUnloaded(response.headers.get("axonize-unloaded-bytes"));
  return (await response.json()) as T;
}

async function problem(response: Response): Promise<string> {
  if (response.status === 401) return "The API key was refused: unknown or revoked.";
  try {
    const body = (await response.json()) as { detail?: string; title?: string };
    return `${response.status} ${body.title ?? response.statusText}: ${body.detail ?? ""}`.trim();
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}
