// What the server said, on its latest answer, it had not loaded yet: a read answered before the
// spans acknowledged ahead of it were stored carries Axonize-Unloaded-Bytes (docs/backend.md).
import { useSyncExternalStore } from "react";

let unloaded: number | null = null;
const listeners = new Set<() => void>();

/** Record the header of an answer (absent: that answer was complete). */
export function noteUnloaded(header: string | null): void {
  const parsed = header === null ? NaN : Number(header);
  const next = Number.isFinite(parsed) && parsed > 0 ? parsed : null;
  if (next === unloaded) return;
  unloaded = next;
  for (const listener of listeners) listener();
}

/** Bytes the server still had to load when it answered last, or null. */
export function useUnloaded(): number | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => unloaded,
  );
}
