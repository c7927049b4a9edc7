-- Webhooks: a job may name a callback URL; when it finishes, a delivery is queued in the same
-- transaction (a trigger, so every path that ends a job is covered: worker, cancel, reaper) and a
-- background task POSTs it, retrying with exponential backoff.
ALTER TABLE jobs ADD COLUMN callback_url text;

-- Deliveries are signed with their job owner's secret (open mode: webhooks.secret in config).
ALTER TABLE api_keys ADD COLUMN webhook_secret text NOT NULL
    DEFAULT 'whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    url             text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE FUNCTION queue_job_webhook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (job_id, url) VALUES (NEW.id, NEW.callback_url);
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_queue_webhook AFTER UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN (NEW.callback_url IS NOT NULL
          AND NEW.status IN ('succeeded', 'failed', 'canceled')
          AND OLD.status NOT IN ('succeeded', 'failed', 'canceled'))
    EXECUTE FUNCTION queue_job_webhook();
