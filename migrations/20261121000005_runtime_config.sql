-- Runtime settings changed through PUT /v1/config: one row, its version bumped on every change so
-- that every api and worker process notices by polling one integer.
CREATE TABLE runtime_config (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    version    bigint NOT NULL,
    settings   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Retention: when a finished job's audio and result were deleted.
ALTER TABLE jobs ADD COLUMN purged_at timestamptz;
CREATE INDEX jobs_unpurged_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL AND purged_at IS NULL;

-- Models each worker has loaded (reported with its heartbeat).
ALTER TABLE workers ADD COLUMN loaded_models text[] NOT NULL DEFAULT '{}';
