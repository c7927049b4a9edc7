-- API keys: only the sha256 of each secret is stored. A key owns the jobs it submits.
CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    key_hash   text NOT NULL UNIQUE,          -- hex sha256 of the whole bearer token
    prefix     text NOT NULL,                 -- the token's first characters, to recognise it in lists
    admin      boolean NOT NULL DEFAULT false,
    max_queued integer CHECK (max_queued IS NULL OR max_queued >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- NULL: submitted while the service ran open (no keys); only admins see such jobs once keys exist.
ALTER TABLE jobs ADD COLUMN owner uuid REFERENCES api_keys (id);

-- Idempotency keys are scoped per owner.
ALTER TABLE jobs DROP CONSTRAINT jobs_idempotency_key_key;
CREATE UNIQUE INDEX jobs_owner_idempotency_key
    ON jobs (COALESCE(owner, '00000000-0000-0000-0000-000000000000'::uuid), idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_owner_id ON jobs (owner, id DESC);
CREATE INDEX jobs_owner_queued ON jobs (owner) WHERE status = 'queued';
