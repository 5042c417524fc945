-- The GPU registry in three layers: physical GPU -> compute resource (whole GPU or MIG
-- instance) -> runtime context (how a pod/container/process named it, e.g. cuda:0).
CREATE TABLE IF NOT EXISTS physical_gpus (
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    uuid                text NOT NULL,
    model               text NOT NULL,
    vendor              text NOT NULL,
    node                text NOT NULL DEFAULT '',
    memory_total_bytes  bigint,
    first_seen          timestamptz NOT NULL,
    last_seen           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, uuid)
);

CREATE TABLE IF NOT EXISTS compute_resources (
    tenant_id     uuid NOT NULL,
    id            text NOT NULL,
    gpu_uuid      text NOT NULL,
    device_uuid   text NOT NULL,
    mig_profile   text NOT NULL DEFAULT '',
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, gpu_uuid) REFERENCES physical_gpus (tenant_id, uuid) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS resource_contexts (
    tenant_id            uuid NOT NULL,
    compute_resource_id  text NOT NULL,
    context              text NOT NULL,
    node                 text NOT NULL DEFAULT '',
    pod                  text NOT NULL DEFAULT '',
    namespace            text NOT NULL DEFAULT '',
    container            text NOT NULL DEFAULT '',
    service              text NOT NULL DEFAULT '',
    first_seen           timestamptz NOT NULL,
    last_seen            timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, compute_resource_id, context, node, pod, container, service),
    FOREIGN KEY (tenant_id, compute_resource_id)
        REFERENCES compute_resources (tenant_id, id) ON DELETE CASCADE
);
