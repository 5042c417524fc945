// Said while the server answers before it has stored everything it acknowledged (after a
// restart with a full ingest log, or while its span store is down): the page may lack spans.
import { useUnloaded } from "../api/unloaded";
import { bytes } from "../format";

export function UnloadedNotice() {
  const unloaded = useUnloaded();
  if (unloaded === null) return null;
  return (
    <p className="state notice" role="status">
      The server is still storing spans it received ({bytes(unloaded)} to go): this page may be
      missing the latest ones. They appear on the next refresh once stored.
    </p>
  );
}
