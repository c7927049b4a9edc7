-- Seconds each pipeline stage took in the attempt that finished the job, e.g.
-- {"fetch": 0.1, "decode": 0.4, "vad": 0.2, "transcribe": 7.9}. Written by the worker, fenced.
ALTER TABLE jobs ADD COLUMN stage_secs jsonb;

-- /metrics folds newly finished jobs into its histograms, reading forward from a watermark.
CREATE INDEX jobs_finished_at ON jobs (finished_at, id) WHERE finished_at IS NOT NULL;
