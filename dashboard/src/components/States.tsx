// Loading, empty and error states: each says what is happening or what to do.
import type { ReactNode } from "react";
import { ApiError } from "../api/client";

export function Loading({ what }: { what: string }) {
  return (
    <p className="state loading" role="status">
      Loading {what}…
    </p>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state empty">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

/** What to run to get data into this tenant. */
export function SendData() {
  return (
    <p>
      Send some with <code>nox -s demo</code>, or run an instrumented program against this
      server: <code>AXONIZE_ENDPOINT=http://{location.hostname}:4317 AXONIZE_API_KEY=&lt;key&gt;
      axonize-instrument python app.py</code>
    </p>
  );
}

export function ErrorBox({ error, what }: { error: unknown; what: string }) {
  const message = error instanceof ApiError ? error.message : String(error);
  return (
    <div className="state error" role="alert">
      <strong>Could not load {what}.</strong> {message}
    </div>
  );
}
