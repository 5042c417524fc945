// Analytics: per model over the window, and per model over time.
import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";
import { apiGet, type BucketFigures, type Overview } from "../api/client";
import { useApiKey } from "../auth";
import { CostByOwner } from "../components/CostByOwner";
import { ModelTable } from "../components/ModelTable";
import { pivot, SeriesChart } from "../components/SeriesChart";
import { Empty, ErrorBox, Loading, SendData } from "../components/States";
import { WindowPicker } from "../components/WindowPicker";
import { sinceOf, WINDOWS } from "../format";

const CHARTS: [string, string, (b: BucketFigures) => number | null][] = [
  ["Latency p95", "ms", (b) => b.latency_ms.p95],
  ["Requests", "", (b) => b.requests],
  ["Error rate", "%", (b) => b.error_rate * 100],
  ["Tokens/s", "", (b) => b.tokens_per_second],
  ["Cost", "USD", (b) => b.cost_usd],
];

export function AnalyticsPage() {
  const key = useApiKey();
  const [search, setSearch] = useSearchParams();
  const window = search.get("window") ?? "24h";
  // About 24 buckets, whole minutes (the API's resolution), at least one minute.
  const bucket = Math.max(Math.round(WINDOWS[window] / 1000 / 24 / 60) * 60, 60);
  const overview = useQuery({
    queryKey: ["overview", window],
    queryFn: () =>
      apiGet<Overview>("/analytics/overview", key, {
        since: sinceOf(window, "24h"),
        bucket_s: bucket,
      }),
  });
  const models = overview.data?.models.map((m) => m.model || "(none)") ?? [];
  return (
    <section>
      <h2>Analytics</h2>
      <WindowPicker
        value={window}
        onChange={(w) => {
          const next = new URLSearchParams(search);
          next.set("window", w);
          setSearch(next);
        }}
      />
      {overview.isPending && <Loading what="analytics" />}
      {overview.isError && <ErrorBox error={overview.error} what="analytics" />}
      {overview.data && overview.data.models.length === 0 && (
        <Empty title="No model calls in this window">
          <SendData />
        </Empty>
      )}
      {overview.data && overview.data.models.length > 0 && (
        <>
          <ModelTable models={overview.data.models} />
          <div className="charts">
            {CHARTS.map(([title, unit, value]) => (
              <SeriesChart
                key={title}
                title={title}
                unit={unit}
                series={models}
                points={pivot(
                  overview.data.buckets.flatMap((b) => {
                    const v = value(b);
                    return v === null
                      ? []
                      : [{ t: b.time_unix_nano / 1e6, series: b.model || "(none)", value: v }];
                  }),
                )}
              />
            ))}
          </div>
        </>
      )}
      <CostByOwner window={window} />
    </section>
  );
}
