// How numbers, times and durations are shown.

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  if (value >= 60_000) return `${(value / 60_000).toFixed(1)} min`;
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  if (value >= 10) return `${value.toFixed(0)} ms`;
  if (value >= 1) return `${value.toFixed(1)} ms`;
  return `${(value * 1000).toFixed(0)} µs`;
}

export function usd(value: number): string {
  if (value === 0) return "$0";
  if (value < 0.01) return `$${value.toExponential(2)}`;
  return `$${value.toFixed(2)}`;
}

export function pct(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
}

export function num(value: number | null | undefined, digits = 0): string {
  return value === null || value === undefined ? "–" : value.toFixed(digits);
}

export function bytes(value: number | null | undefined): string {
  if (!value) return "–";
  if (value < 2 ** 20) return `${Math.ceil(value / 1024)} KiB`;
  const gib = value / 2 ** 30;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(value / 2 ** 20).toFixed(0)} MiB`;
}

/** A unix-nanosecond time as local date and time. */
export function clock(unixNano: number): string {
  return new Date(unixNano / 1e6).toLocaleString();
}

/** Time windows the pages offer, in milliseconds. */
export const WINDOWS: Record<string, number> = {
  "15m": 15 * 60_000,
  "1h": 3_600_000,
  "6h": 6 * 3_600_000,
  "24h": 24 * 3_600_000,
  "7d": 7 * 24 * 3_600_000,
};

/** `since` (unix ns) of a window ending now. */
export function sinceOf(window: string, fallback: string): number {
  const width = WINDOWS[window] ?? WINDOWS[fallback];
  return (Date.now() - width) * 1e6;
}

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 2 });

/** An axis label: short for large numbers, exponent for tiny ones (costs per request). */
export function axisNumber(value: number): string {
  if (value === 0) return "0";
  if (Math.abs(value) < 0.01) return value.toExponential(1);
  return compact.format(value);
}
