// A line chart of series over time (Recharts): one line per named series.
import {
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { axisNumber } from "../format";

export interface Point {
  t: number; // unix ms
  [series: string]: number;
}

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

interface Props {
  title: string;
  points: Point[];
  series: string[];
  unit?: string;
}

export function SeriesChart({ title, points, series, unit = "" }: Props) {
  return (
    <figure className="chart" data-testid={`chart-${title}`}>
      <figcaption>
        {title}
        {unit && <span className="hint"> ({unit.trim()})</span>}
      </figcaption>
      {points.length === 0 ? (
        <p className="hint">no samples in this window</p>
      ) : (
        <ResponsiveContainer width="100%" height={180}>
          <LineChart data={points} margin={{ top: 5, right: 10, bottom: 5, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis
              dataKey="t"
              type="number"
              scale="time"
              domain={["dataMin", "dataMax"]}
              tickFormatter={(t: number) => new Date(t).toLocaleTimeString()}
            />
            <YAxis width={56} tickFormatter={axisNumber} />
            <Tooltip
              labelFormatter={(t) => new Date(Number(t)).toLocaleString()}
              formatter={(v) => (typeof v === "number" ? v.toFixed(2) : String(v))}
            />
            {series.length > 1 && <Legend />}
            {series.map((name, i) => (
              <Line
                key={name}
                dataKey={name}
                stroke={COLORS[i % COLORS.length]}
                dot={points.length < 3}
                isAnimationActive={false}
                connectNulls
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      )}
    </figure>
  );
}

/** Rows of (time, series, value) as chart points, one per time. */
export function pivot(rows: { t: number; series: string; value: number }[]): Point[] {
  const byTime = new Map<number, Point>();
  for (const r of rows) {
    const p = byTime.get(r.t) ?? { t: r.t };
    p[r.series] = r.value;
    byTime.set(r.t, p);
  }
  return [...byTime.values()].sort((a, b) => a.t - b.t);
}
