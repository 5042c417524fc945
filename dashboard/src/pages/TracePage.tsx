// One trace: its Gantt timeline and the selected span's panel (?span=<id> in the URL).
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { apiGet, type TraceDetail } from "../api/client";
import { useApiKey } from "../auth";
import { SpanPanel } from "../components/SpanPanel";
import { ErrorBox, Loading } from "../components/States";
import { Timeline } from "../components/Timeline";
import { ms } from "../format";
import { bounds, index } from "../timeline";

export function TracePage() {
  const key = useApiKey();
  const { traceId = "" } = useParams();
  const [search, setSearch] = useSearchParams();
  const trace = useQuery({
    queryKey: ["trace", traceId],
    queryFn: () => apiGet<TraceDetail>(`/traces/${encodeURIComponent(traceId)}`, key),
  });
  const roots = trace.data?.roots;
  const spans = useMemo(() => index(roots ?? []), [roots]);
  const { startNs, durationMs } = useMemo(() => bounds(roots ?? []), [roots]);
  const selectedId = search.get("span") ?? trace.data?.roots[0]?.span_id ?? null;
  const selected = selectedId ? spans.get(selectedId) : undefined;
  const back = new URLSearchParams(search);
  back.delete("span");
  const select = (id: string) => {
    const next = new URLSearchParams(search);
    next.set("span", id);
    setSearch(next, { replace: true });
  };
  return (
    <section className="trace-page">
      <p>
        <Link to={`/traces?${back}`}>← Traces</Link>
      </p>
      <h2>
        Trace <code>{traceId}</code>
      </h2>
      {trace.isPending && <Loading what="the trace" />}
      {trace.isError && <ErrorBox error={trace.error} what={`trace ${traceId}`} />}
      {trace.data && (
        <>
          <p className="hint">
            {trace.data.span_count} {trace.data.span_count === 1 ? "span" : "spans"} ·{" "}
            {ms(durationMs)}
          </p>
          <div className="trace-body">
            <Timeline
              key={traceId}
              roots={trace.data.roots}
              selected={selectedId}
              onSelect={select}
            />
            {selected && <SpanPanel span={selected} traceStartNs={startNs} />}
          </div>
        </>
      )}
    </section>
  );
}
