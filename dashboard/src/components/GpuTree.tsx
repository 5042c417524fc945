// The GPU registry: physical GPU → compute resources (MIG instances) → runtime contexts; a
// physical GPU or a MIG instance links to its page.
import { Link } from "react-router-dom";
import type { PhysicalGpu } from "../api/gpus";
import { bytes } from "../format";

export function GpuTree({ gpus, selected }: { gpus: PhysicalGpu[]; selected?: string }) {
  return (
    <ul className="gpu-tree" data-testid="gpu-tree">
      {gpus.map((g) => (
        <li key={g.uuid} className={g.uuid === selected ? "selected" : ""}>
          <Link to={`/gpus/${encodeURIComponent(g.uuid)}`}>
            <strong>{g.model ?? "GPU"}</strong> <code>{g.uuid}</code>
          </Link>
          <span className="hint">
            {" "}
            {g.vendor} · node {g.node ?? "?"} · {bytes(g.memory_total_bytes)}
          </span>
          <ul>
            {g.compute_resources.map((c) => (
              <li key={c.id} className={c.device_uuid === selected ? "selected" : ""}>
                {c.mig_profile && c.device_uuid ? (
                  <Link to={`/gpus/${encodeURIComponent(c.device_uuid)}`}>
                    MIG {c.mig_profile}
                  </Link>
                ) : (
                  "whole GPU"
                )}{" "}
                <code>{c.id}</code>
                <ul>
                  {c.contexts.map((x) => (
                    <li key={x.context}>
                      <code>{x.context}</code>
                      <span className="hint">
                        {[x.service, x.pod && `pod ${x.pod}`, x.namespace, x.container]
                          .filter(Boolean)
                          .map((s) => ` · ${s}`)}
                      </span>
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        </li>
      ))}
    </ul>
  );
}
