-- Batches (POST /v1/batches): many jobs submitted together with one set of options, read,
-- canceled and deleted together. The jobs stay ordinary jobs; a batch only groups them.
CREATE TABLE batches (
    id         uuid PRIMARY KEY,                -- UUIDv7, like jobs
    owner      uuid REFERENCES api_keys (id),   -- as jobs.owner: NULL while the service runs open
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A job deleted on its own leaves its batch; deleting a batch deletes its jobs first.
ALTER TABLE jobs ADD COLUMN batch_id uuid REFERENCES batches (id) ON DELETE SET NULL;
CREATE INDEX jobs_batch ON jobs (batch_id, id) WHERE batch_id IS NOT NULL;
