// GET /api/v1/gpus answers a free-form document (the schema says only "object"): its shape
// as tenants.py builds it.
export interface RuntimeContext {
  context: string;
  pod: string | null;
  namespace: string | null;
  container: string | null;
  service: string | null;
  last_seen: string | null;
}

export interface ComputeResource {
  id: string;
  device_uuid: string | null;
  mig_profile: string | null;
  contexts: RuntimeContext[];
}

export interface PhysicalGpu {
  uuid: string;
  model: string | null;
  vendor: string | null;
  node: string | null;
  memory_total_bytes: number | null;
  first_seen: string | null;
  last_seen: string | null;
  compute_resources: ComputeResource[];
}
