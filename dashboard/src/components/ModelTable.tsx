// Per-model figures over the window.
import type { ModelFigures } from "../api/client";
import { ms, num, pct, usd } from "../format";

export function ModelTable({ models }: { models: ModelFigures[] }) {
  return (
    <table className="grid" data-testid="model-table">
      <thead>
        <tr>
          <th>Model</th>
          <th className="n">Requests</th>
          <th className="n">Errors</th>
          <th className="n">Latency p50 / p95 / p99</th>
          <th className="n">TTFT p50 / p95 / p99</th>
          <th className="n">Tokens/s</th>
          <th className="n">Tokens in/out</th>
          <th className="n">GPU util</th>
          <th className="n">Cost</th>
        </tr>
      </thead>
      <tbody>
        {models.map((m) => (
          <tr key={m.model}>
            <td>{m.model || "(none)"}</td>
            <td className="n">{m.requests}</td>
            <td className="n">{pct(m.error_rate)}</td>
            <td className="n">{triple(m.latency_ms)}</td>
            <td className="n">{m.ttft_ms ? triple(m.ttft_ms) : "–"}</td>
            <td className="n">{num(m.tokens_per_second, 1)}</td>
            <td className="n">
              {m.tokens_input}/{m.tokens_output}
            </td>
            <td className="n">
              {m.gpu_utilization_pct === null ? "–" : `${m.gpu_utilization_pct.toFixed(0)}%`}
            </td>
            <td className="n">{usd(m.cost_usd)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function triple(p: { [k: string]: number }): string {
  return `${ms(p.p50)} / ${ms(p.p95)} / ${ms(p.p99)}`;
}
