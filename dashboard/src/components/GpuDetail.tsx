// One GPU over a window: utilization, memory, power, temperature, and the traces that ran on it.
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { apiGet, ApiError, type GpuSeries, type TracePage } from "../api/client";
import { useApiKey } from "../auth";
import { sinceOf, WINDOWS } from "../format";
import { SeriesChart } from "./SeriesChart";
import { ErrorBox, Loading } from "./States";
import { TracesTable } from "./TracesTable";

const METRICS: [string, string, string][] = [
  ["gpu.utilization", "Utilization", "%"],
  ["gpu.memory.used", "Memory used", "MiB"],
  ["gpu.power", "Power", "W"],
  ["gpu.temperature", "Temperature", "°C"],
];
const MIB = 2 ** 20;

interface Props {
  uuid: string;
  window: string;
  title?: string | null;
}

export function GpuDetail({ uuid, window, title }: Props) {
  const key = useApiKey();
  const step = Math.max(Math.round(WINDOWS[window] / 1000 / 120), 1);
  const series = useQuery({
    queryKey: ["gpu-series", uuid, window],
    queryFn: () =>
      apiGet<GpuSeries>(`/gpus/${encodeURIComponent(uuid)}/metrics`, key, {
        since: sinceOf(window, "1h"),
        step_s: step,
      }),
  });
  const traces = useQuery({
    queryKey: ["gpu-traces", uuid, window],
    queryFn: () =>
      apiGet<TracePage>("/traces", key, { gpu: uuid, since: sinceOf(window, "1h"), limit: 20 }),
  });
  return (
    <div className="gpu-detail" data-testid="gpu-detail">
      <h3>
        {title ?? "GPU"} <code>{uuid}</code>
      </h3>
      {series.isPending && <Loading what="GPU metrics" />}
      {series.isError && isNotFound(series.error) && (
        <p className="hint">
          No gauge series for this device (a MIG instance reports through its GPU, and NVML has
          no utilization for MIG instances).
        </p>
      )}
      {series.isError && !isNotFound(series.error) && (
        <ErrorBox error={series.error} what="GPU metrics" />
      )}
      {series.data && (
        <div className="charts">
          {METRICS.map(([metric, title, unit]) => (
            <SeriesChart
              key={metric}
              title={title}
              unit={unit}
              series={["avg", "max"]}
              points={(series.data.series[metric] ?? []).map((p) => {
                const scale = metric === "gpu.memory.used" ? 1 / MIB : 1;
                return { t: p.time_unix_nano / 1e6, avg: p.avg * scale, max: p.max * scale };
              })}
            />
          ))}
        </div>
      )}
      <h4>Traces that ran on it</h4>
      {traces.isPending && <Loading what="traces" />}
      {traces.isError && <ErrorBox error={traces.error} what="traces" />}
      {traces.data && traces.data.traces.length === 0 && (
        <p className="hint">No span in this window names this GPU.</p>
      )}
      {traces.data && traces.data.traces.length > 0 && (
        <>
          <TracesTable traces={traces.data.traces} />
          <Link to={`/traces?gpu=${encodeURIComponent(uuid)}&range=${window}`}>
            All its traces →
          </Link>
        </>
      )}
    </div>
  );
}

function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}
