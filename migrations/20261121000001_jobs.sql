-- Jobs are the source of truth; Redis only carries wake-ups.
CREATE TABLE jobs (
    id               uuid PRIMARY KEY,                -- UUIDv7: time-ordered, so it is also the list order
    status           text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    stage            text,
    progress         real NOT NULL DEFAULT 0,
    input            jsonb NOT NULL,
    options          jsonb NOT NULL,
    idempotency_key  text UNIQUE,
    request_hash     text,
    duration_secs    double precision,
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL,
    worker_id        text,
    lease_until      timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    error_code       text,
    error_message    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    dispatched_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX jobs_status_id ON jobs (status, id DESC);
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_queued_dispatch ON jobs (dispatched_at) WHERE status = 'queued';

-- Results live apart so status reads and lists never drag transcripts along.
CREATE TABLE job_results (
    job_id uuid PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    result jsonb NOT NULL
);

CREATE TABLE job_logs (
    id        bigserial PRIMARY KEY,
    job_id    uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    level     text NOT NULL,
    stage     text,
    worker_id text,
    message   text NOT NULL
);
CREATE INDEX job_logs_job ON job_logs (job_id, id);

CREATE TABLE workers (
    id           text PRIMARY KEY,
    hostname     text NOT NULL,
    device       text NOT NULL,
    version      text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    current_job  uuid
);
