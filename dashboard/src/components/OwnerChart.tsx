// Cost per owner value as horizontal bars (Recharts); an exceeded budget's bar is red.
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import type { CostGroup } from "../api/client";
import { axisNumber, usd } from "../format";
import { ownerName } from "./OwnerTable";

export function OwnerChart({ groups }: { groups: CostGroup[] }) {
  const data = groups.map((g) => ({
    owner: ownerName(g.owner),
    cost: g.cost_usd,
    over: !!g.budget?.exceeded,
  }));
  return (
    <figure className="chart" data-testid="chart-owner-cost">
      <figcaption>
        Cost per owner <span className="hint">(USD)</span>
      </figcaption>
      <ResponsiveContainer width="100%" height={Math.max(120, 34 * data.length + 40)}>
        <BarChart data={data} layout="vertical" margin={{ top: 5, right: 20, bottom: 5, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" horizontal={false} />
          <XAxis type="number" tickFormatter={axisNumber} />
          <YAxis type="category" dataKey="owner" width={120} />
          <Tooltip formatter={(v) => (typeof v === "number" ? usd(v) : String(v))} />
          <Bar dataKey="cost" name="Cost" isAnimationActive={false}>
            {data.map((d) => (
              <Cell key={d.owner} fill={d.over ? "#dc2626" : "#2563eb"} />
            ))}
          </Bar>
        </BarChart>
      </ResponsiveContainer>
    </figure>
  );
}
