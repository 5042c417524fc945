// Sign-in: a tenant API key, checked against the API before it is kept (session only).
import { useState, type FormEvent } from "react";
import { apiGet, ApiError } from "../api/client";
import { useAuth } from "../auth";

export function SignIn() {
  const { signIn, reason } = useAuth();
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(reason);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await apiGet("/traces", key.trim(), { limit: 1 });
      signIn(key.trim());
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="signin" onSubmit={submit}>
      <h1>Axonize</h1>
      <label htmlFor="api-key">Tenant API key</label>
      <input
        id="api-key"
        type="password"
        autoComplete="off"
        value={key}
        onChange={(e) => setKey(e.target.value)}
        placeholder="axk_…"
        autoFocus
      />
      <button type="submit" disabled={busy || !key.trim()}>
        {busy ? "Checking…" : "Sign in"}
      </button>
      {error && (
        <p className="state error" role="alert">
          {error}
        </p>
      )}
      <p className="hint">
        Kept for this browser tab only. An admin makes keys with{" "}
        <code>axonize-server create-key TENANT_ID</code>; <code>nox -s demo</code> prints one.
      </p>
    </form>
  );
}
