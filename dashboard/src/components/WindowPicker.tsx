// The time window of a page (kept in the URL as ?window=).
import { WINDOWS } from "../format";

interface Props {
  value: string;
  onChange: (w: string) => void;
}

export function WindowPicker({ value, onChange }: Props) {
  return (
    <label className="window">
      Window{" "}
      <select name="window" value={value} onChange={(e) => onChange(e.target.value)}>
        {Object.keys(WINDOWS).map((w) => (
          <option key={w} value={w}>
            last {w}
          </option>
        ))}
      </select>
    </label>
  );
}
