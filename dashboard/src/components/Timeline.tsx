// The trace as a Gantt timeline: one row per visible span (virtualized: only the rows on screen
// are in the DOM), collapsible subtrees, zoom (buttons, ctrl+wheel, double-click a span), a TTFT
// marker on LLM spans, a tick per span event and per diffusion step.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef, useState, type WheelEvent } from "react";
import type { SpanNode } from "../api/client";
import { ms } from "../format";
import { bounds, diffusionSteps, flatten, tickStep, ttftMs, type Row } from "../timeline";

const ROW_PX = 24;
const MAX_TICKS = 200;

interface Props {
  roots: SpanNode[];
  selected: string | null;
  onSelect: (spanId: string) => void;
}

interface View {
  from: number;
  to: number;
}

export function Timeline({ roots, selected, onSelect }: Props) {
  const { startNs, durationMs } = useMemo(() => bounds(roots), [roots]);
  const full: View = { from: 0, to: Math.max(durationMs, 0.001) };
  const [view, setView] = useState<View>(full);
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const rows = useMemo(() => flatten(roots, collapsed, startNs), [roots, collapsed, startNs]);
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_PX,
    overscan: 20,
    initialRect: { width: 1000, height: 600 },
  });

  const width = view.to - view.from;
  const zoom = (factor: number, at = view.from + width / 2) => {
    const w = Math.min(Math.max(width * factor, full.to / 1e6, 1e-6), full.to);
    const from = Math.min(Math.max(at - (at - view.from) * (w / width), 0), full.to - w);
    setView({ from, to: from + w });
  };
  const pan = (share: number) => {
    const from = Math.min(Math.max(view.from + width * share, 0), full.to - width);
    setView({ from, to: from + width });
  };
  const onWheel = (e: WheelEvent<HTMLDivElement>) => {
    if (!e.ctrlKey) return;
    e.preventDefault();
    const box = e.currentTarget.getBoundingClientRect();
    const share = (e.clientX - box.left) / box.width;
    zoom(e.deltaY > 0 ? 1.25 : 0.8, view.from + share * width);
  };
  const toggle = (id: string) => {
    const next = new Set(collapsed);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setCollapsed(next);
  };

  return (
    <div className="timeline" data-testid="timeline">
      <div className="toolbar">
        <button onClick={() => zoom(0.5)}>Zoom in</button>
        <button onClick={() => zoom(2)}>Zoom out</button>
        <button onClick={() => pan(-0.25)}>◀</button>
        <button onClick={() => pan(0.25)}>▶</button>
        <button onClick={() => setView(full)}>Fit</button>
        <button onClick={() => setCollapsed(new Set())}>Expand all</button>
        <span className="hint">
          {rows.length} {rows.length === 1 ? "row" : "rows"} · showing {ms(view.from)} – {ms(view.to)} · ctrl+wheel zooms,
          double-click a span to zoom to it
        </span>
      </div>
      <Axis view={view} />
      <div className="rows" ref={scroller} onWheel={onWheel}>
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const row = rows[item.index];
            return (
              <SpanRow
                key={row.span.span_id}
                row={row}
                top={item.start}
                view={view}
                startNs={startNs}
                selected={row.span.span_id === selected}
                collapsed={collapsed.has(row.span.span_id)}
                onToggle={() => toggle(row.span.span_id)}
                onSelect={() => onSelect(row.span.span_id)}
                onZoom={() => {
                  // A margin either side, and never an empty view (a zero-length span).
                  const pad = Math.max(row.span.duration_ms * 0.05, full.to * 0.001);
                  setView({
                    from: Math.max(row.startMs - pad, 0),
                    to: Math.min(row.startMs + row.span.duration_ms + pad, full.to),
                  });
                }}
              />
            );
          })}
        </div>
      </div>
    </div>
  );
}

function Axis({ view }: { view: View }) {
  const step = tickStep(view.to - view.from);
  const ticks: number[] = [];
  for (let t = Math.ceil(view.from / step) * step; t <= view.to; t += step) ticks.push(t);
  return (
    <div className="axis">
      <div className="label-col" />
      <div className="bar-col">
        {ticks.map((t) => (
          <span key={t} style={{ left: `${share(t, view)}%` }}>
            {ms(t)}
          </span>
        ))}
      </div>
    </div>
  );
}

interface RowProps {
  row: Row;
  top: number;
  view: View;
  startNs: number;
  selected: boolean;
  collapsed: boolean;
  onToggle: () => void;
  onSelect: () => void;
  onZoom: () => void;
}

function SpanRow({ row, top, view, startNs, selected, collapsed, ...on }: RowProps) {
  const { span } = row;
  const left = share(row.startMs, view);
  const right = share(row.startMs + span.duration_ms, view);
  const visible = right >= 0 && left <= 100;
  const ttft = ttftMs(span);
  const error = span.status_code === 2;
  return (
    <div
      className={`row${selected ? " selected" : ""}`}
      style={{ top, height: ROW_PX }}
      onClick={on.onSelect}
      onDoubleClick={on.onZoom}
      data-span-id={span.span_id}
    >
      <div className="label-col" style={{ paddingLeft: 4 + row.depth * 14 }} title={span.name}>
        {row.hasChildren ? (
          <button
            className="toggle"
            aria-label={collapsed ? "expand" : "collapse"}
            onClick={(e) => {
              e.stopPropagation();
              on.onToggle();
            }}
          >
            {collapsed ? "▸" : "▾"}
          </button>
        ) : (
          <span className="toggle" />
        )}
        {span.name}
      </div>
      <div className="bar-col">
        {visible && (
          <div
            className={`bar${error ? " error" : ""}`}
            style={{ left: `${clamp(left)}%`, width: `${Math.max(clamp(right) - clamp(left), 0.15)}%` }}
            title={`${span.name} · ${ms(span.duration_ms)}`}
          >
            <span className="bar-text">{ms(span.duration_ms)}</span>
          </div>
        )}
        {ttft !== null && visible && (
          <div
            className="ttft"
            style={{ left: `${clamp(share(row.startMs + ttft, view))}%` }}
            title={`TTFT ${ms(ttft)}`}
          />
        )}
        {visible &&
          diffusionSteps(span).map((at, i, all) => {
            const x = share(row.startMs + at, view);
            return x >= 0 && x <= 100 ? (
              <div
                key={`s${i}`}
                className="tick step"
                style={{ left: `${x}%` }}
                title={`step ${i + 1} of ${all.length} (evenly spaced: steps are not timed one by one)`}
              />
            ) : null;
          })}
        {visible &&
          span.events.slice(0, MAX_TICKS).map((event, i) => {
            const at = (Number(event.time_ns) - startNs) / 1e6;
            const x = share(at, view);
            return x >= 0 && x <= 100 ? (
              <div key={i} className="tick" style={{ left: `${x}%` }} />
            ) : null;
          })}
      </div>
    </div>
  );
}

function share(t: number, view: View): number {
  return ((t - view.from) / (view.to - view.from)) * 100;
}

function clamp(x: number): number {
  return Math.min(Math.max(x, 0), 100);
}
