-- Segments the running attempt of a job has already finished, so that `stream=true` on the
-- OpenAI-compatible routes can send them before the job ends. One row per segment: the worker
-- appends a batch of rows (fenced like its other writes) and never rewrites what is there.
-- Keyed by attempt, so that a retried job's attempt 2 never continues attempt 1's numbering.
CREATE TABLE job_partials (
    job_id  uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    idx     integer NOT NULL,   -- the segment's place in the attempt's transcript, from 0
    segment jsonb NOT NULL,     -- as in the result's `segments` (no speaker: assigned at the end)
    PRIMARY KEY (job_id, attempt, idx)
);

-- Partials belong to the running attempt only. When a job leaves `running`, by whatever path
-- (the result written, failed, canceled, reaped, handed back at shutdown), they go: the result
-- is the truth from then on, and a next attempt starts from nothing.
CREATE FUNCTION clear_job_partials() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_partials WHERE job_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_clear_partials AFTER UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN (OLD.status = 'running' AND NEW.status <> 'running')
    EXECUTE FUNCTION clear_job_partials();
