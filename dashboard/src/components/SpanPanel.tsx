// One span in full: its figures, every attribute, every event, and the GPUs it ran on.
import { Link } from "react-router-dom";
import type { SpanNode } from "../api/client";
import { clock, ms } from "../format";
import { gpuUuids, ttftMs } from "../timeline";

const STATUS = ["unset", "ok", "error"];

export function SpanPanel({ span, traceStartNs }: { span: SpanNode; traceStartNs: number }) {
  const attributes = Object.entries(span.attributes).sort(([a], [b]) => a.localeCompare(b));
  const gpus = gpuUuids(span);
  const ttft = ttftMs(span);
  return (
    <aside className="panel" data-testid="span-panel">
      <h3>{span.name}</h3>
      <dl>
        <dt>service</dt>
        <dd>{span.service}</dd>
        <dt>duration</dt>
        <dd>{ms(span.duration_ms)}</dd>
        <dt>starts at</dt>
        <dd>+{ms((span.start_time_unix_nano - traceStartNs) / 1e6)}</dd>
        {ttft !== null && (
          <>
            <dt>TTFT</dt>
            <dd>{ms(ttft)}</dd>
          </>
        )}
        <dt>status</dt>
        <dd className={span.status_code === 2 ? "err" : ""}>
          {STATUS[span.status_code] ?? span.status_code}
          {span.status_message && `: ${span.status_message}`}
        </dd>
        <dt>span id</dt>
        <dd>
          <code>{span.span_id}</code>
        </dd>
      </dl>
      {gpus.length > 0 && (
        <>
          <h4>GPUs</h4>
          <ul>
            {gpus.map((uuid) => (
              <li key={uuid}>
                <Link to={`/gpus/${encodeURIComponent(uuid)}`}>{uuid}</Link>
              </li>
            ))}
          </ul>
        </>
      )}
      <h4>Attributes ({attributes.length})</h4>
      <table className="kv">
        <tbody>
          {attributes.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Events ({span.events.length})</h4>
      {span.events.length === 0 && <p className="hint">none</p>}
      <ol className="events">
        {span.events.map((event, i) => (
          <li key={i}>
            <strong>{String(event.name)}</strong>{" "}
            <span className="hint">
              +{ms((Number(event.time_ns) - traceStartNs) / 1e6)} ({clock(Number(event.time_ns))})
            </span>
            {hasAttributes(event.attributes) && (
              <pre>{JSON.stringify(event.attributes, null, 1)}</pre>
            )}
          </li>
        ))}
      </ol>
    </aside>
  );
}

function hasAttributes(value: unknown): boolean {
  return typeof value === "object" && value !== null && Object.keys(value).length > 0;
}
