-- Announce every change to a job row (payload: its id) so that API processes can cache job rows
-- for status reads (api/src/jobcache.rs). Inserts need no announcement: absence is not cached.
-- One notification per updated row is cheap: workers write progress at most once a second per
-- job and renew leases every few seconds. A TRUNCATE announces '' (forget every job).
CREATE FUNCTION notify_jobs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('jobs_changed', '');
    ELSE
        PERFORM pg_notify('jobs_changed', OLD.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_changed AFTER UPDATE OR DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION notify_jobs_changed();

CREATE TRIGGER jobs_truncated AFTER TRUNCATE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_jobs_changed();
