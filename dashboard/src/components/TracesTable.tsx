// Listed traces: the columns a user scans for; a row opens its trace.
import { useLocation, useNavigate } from "react-router-dom";
import type { TraceSummary } from "../api/client";
import { clock, ms, usd } from "../format";

export function TracesTable({ traces }: { traces: TraceSummary[] }) {
  const navigate = useNavigate();
  const { search } = useLocation();
  return (
    <table className="grid traces" data-testid="traces-table">
      <thead>
        <tr>
          <th>Started</th>
          <th>Root span</th>
          <th>Service</th>
          <th>Model</th>
          <th className="n">Duration</th>
          <th className="n">TTFT</th>
          <th className="n">Tokens in/out</th>
          <th className="n">Cost</th>
          <th className="n">Errors</th>
          <th className="n">Spans</th>
        </tr>
      </thead>
      <tbody>
        {traces.map((t) => (
          <tr
            key={t.trace_id}
            className={t.error_count ? "has-error" : ""}
            onClick={() => navigate(`/traces/${t.trace_id}${search}`)}
          >
            <td>{clock(t.start_time_unix_nano)}</td>
            <td>
              <a href={`#/traces/${t.trace_id}${search}`}>{t.root_name}</a>
            </td>
            <td>{t.service}</td>
            <td>{t.model ?? "–"}</td>
            <td className="n">{ms(t.duration_ms)}</td>
            <td className="n">{ms(t.ttft_ms)}</td>
            <td className="n">
              {t.input_tokens}/{t.output_tokens}
            </td>
            <td className="n">{usd(t.cost_usd)}</td>
            <td className="n">{t.error_count || ""}</td>
            <td className="n">{t.span_count}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
