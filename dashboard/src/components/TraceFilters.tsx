// The filter bar of the trace list; applying it rewrites the URL.
import { useState, type FormEvent } from "react";
import { WINDOWS } from "../format";
import type { Filters } from "../filters";

interface Props {
  value: Filters;
  onApply: (f: Filters) => void;
  onRefresh: () => void;
  refreshing: boolean;
}

export function TraceFilters({ value, onApply, onRefresh, refreshing }: Props) {
  const [draft, setDraft] = useState<Filters>(value);
  const field = (key: keyof Filters, label: string, placeholder = "", width = 9) => (
    <label>
      {label}
      <input
        name={key}
        value={draft[key] ?? ""}
        placeholder={placeholder}
        style={{ width: `${width}em` }}
        onChange={(e) => setDraft({ ...draft, [key]: e.target.value })}
      />
    </label>
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(draft);
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="trace filters">
      {field("service", "Service")}
      {field("model", "Model")}
      {field("operation", "Operation", "chat")}
      <label>
        Status
        <select
          name="status"
          value={draft.status ?? ""}
          onChange={(e) => setDraft({ ...draft, status: e.target.value })}
        >
          <option value="">any</option>
          <option value="ok">ok</option>
          <option value="error">error</option>
        </select>
      </label>
      {field("min_ms", "Min ms", "", 5)}
      {field("max_ms", "Max ms", "", 5)}
      {field("attribute", "Attribute", "key=value", 12)}
      <label>
        Range
        <select
          name="range"
          disabled={Boolean(draft.from)}
          value={draft.range ?? "24h"}
          onChange={(e) => setDraft({ ...draft, range: e.target.value })}
        >
          {Object.keys(WINDOWS).map((w) => (
            <option key={w} value={w}>
              last {w}
            </option>
          ))}
        </select>
      </label>
      <label>
        From
        <input
          type="datetime-local"
          name="from"
          value={draft.from ?? ""}
          onChange={(e) => setDraft({ ...draft, from: e.target.value })}
        />
      </label>
      <label>
        To
        <input
          type="datetime-local"
          name="to"
          value={draft.to ?? ""}
          onChange={(e) => setDraft({ ...draft, to: e.target.value })}
        />
      </label>
      {draft.gpu && field("gpu", "GPU", "", 14)}
      <button type="submit">Apply</button>
      <button
        type="button"
        onClick={() => {
          setDraft({});
          onApply({});
        }}
      >
        Clear
      </button>
      <button type="button" onClick={onRefresh} disabled={refreshing}>
        {refreshing ? "Refreshing…" : "Refresh"}
      </button>
    </form>
  );
}
