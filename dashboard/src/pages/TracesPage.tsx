// Traces: filtered (filters in the URL), newest first, paged by the API's cursor.
import { useInfiniteQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";
import { apiGet, type TracePage } from "../api/client";
import { useApiKey } from "../auth";
import { TraceFilters } from "../components/TraceFilters";
import { TracesTable } from "../components/TracesTable";
import { Empty, ErrorBox, Loading, SendData } from "../components/States";
import { filtersFrom, traceParams, type Filters } from "../filters";

const PAGE = 50;

export function TracesPage() {
  const key = useApiKey();
  const [search, setSearch] = useSearchParams();
  const filters = filtersFrom(search);
  const list = useInfiniteQuery({
    queryKey: ["traces", filters],
    queryFn: ({ pageParam }) =>
      apiGet<TracePage>("/traces", key, traceParams(filters, PAGE, pageParam)),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const apply = (f: Filters) => {
    const next = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) next.set(k, v);
    setSearch(next);
  };
  const traces = list.data?.pages.flatMap((p) => p.traces) ?? [];
  const filtered = Object.keys(filters).some((k) => k !== "range");
  return (
    <section>
      <h2>Traces</h2>
      <TraceFilters
        key={search.toString()}
        value={filters}
        onApply={apply}
        onRefresh={() => list.refetch()}
        refreshing={list.isRefetching}
      />
      {list.isPending && <Loading what="traces" />}
      {list.isError && <ErrorBox error={list.error} what="traces" />}
      {list.isSuccess && traces.length === 0 && (
        <Empty title={filtered ? "No trace matches these filters" : "No traces in this range"}>
          {filtered ? <p>Widen the range or clear a filter.</p> : <SendData />}
        </Empty>
      )}
      {traces.length > 0 && <TracesTable traces={traces} />}
      {list.hasNextPage && (
        <button onClick={() => list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          {list.isFetchingNextPage ? "Loading…" : "Older traces"}
        </button>
      )}
    </section>
  );
}
