// GPUs: the registry tree and, for the GPU in the URL, its series and its traces.
import { useQuery } from "@tanstack/react-query";
import { useParams, useSearchParams } from "react-router-dom";
import { apiGet } from "../api/client";
import type { PhysicalGpu } from "../api/gpus";
import { useApiKey } from "../auth";
import { GpuDetail } from "../components/GpuDetail";
import { GpuTree } from "../components/GpuTree";
import { Empty, ErrorBox, Loading } from "../components/States";
import { WindowPicker } from "../components/WindowPicker";

export function GpusPage() {
  const key = useApiKey();
  const { gpuUuid } = useParams();
  const [search, setSearch] = useSearchParams();
  const window = search.get("window") ?? "1h";
  const gpus = useQuery({
    queryKey: ["gpus"],
    queryFn: () => apiGet<PhysicalGpu[]>("/gpus", key),
  });
  // A physical GPU's uuid, or a MIG instance's (the uuid its spans name).
  const selected = gpuUuid ?? gpus.data?.[0]?.uuid;
  const owner = gpus.data?.find(
    (g) => g.uuid === selected || g.compute_resources.some((c) => c.device_uuid === selected),
  );
  const title = owner && owner.uuid !== selected ? `MIG instance of ${owner.model}` : owner?.model;
  return (
    <section>
      <h2>GPUs</h2>
      {gpus.isPending && <Loading what="the GPU registry" />}
      {gpus.isError && <ErrorBox error={gpus.error} what="the GPU registry" />}
      {gpus.data && gpus.data.length === 0 && (
        <Empty title="No GPU has reported to this tenant">
          <p>
            GPUs appear once spans name them. Try a simulated one:{" "}
            <code>AXONIZE_GPU_BACKEND=simulated AXONIZE_GPU_SIMULATE=h100 python app.py</code>{" "}
            (as <code>nox -s demo</code> does), or run on a machine with NVML.
          </p>
        </Empty>
      )}
      {gpus.data && gpus.data.length > 0 && (
        <div className="gpus">
          <GpuTree gpus={gpus.data} selected={selected} />
          {selected && (
            <div>
              <WindowPicker value={window} onChange={(w) => setSearch({ window: w })} />
              <GpuDetail
                uuid={selected}
                window={window}
                title={title}
              />
            </div>
          )}
        </div>
      )}
    </section>
  );
}
