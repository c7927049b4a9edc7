-- Drain requests (POST /v1/workers/{id}/drain and /restart): the row is the truth, read by the
-- worker with every heartbeat; a Redis message only wakes it sooner. NULL: run normally.
-- 'exit': finish the current job, take no other, exit. 'restart': the same, then exit with the
-- status that asks the supervisor to start it again.
ALTER TABLE workers ADD COLUMN drain text CHECK (drain IN ('exit', 'restart'));
