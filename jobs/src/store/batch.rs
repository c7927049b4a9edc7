//! Group commit: many submissions inserted by one statement, so they share one round trip, one
//! commit and one WAL flush. Each keeps exactly the meaning [`JobStore::insert_as`] gives it.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::types::Json;
use tracing::warn;
use uuid::Uuid;

use super::insert::{existing, lock_queued_total, submitted_message};
use super::{Inserted, JobStore, NewJob, Result, StoreError, Submitter, JOB_COLUMNS};
use crate::model::Job;

/// One job to insert and who submits it.
#[derive(Debug, Clone)]
pub struct Submission {
    pub job: NewJob,
    pub submitter: Submitter,
}

impl JobStore {
    /// Inserts `batch` and returns one outcome per submission, in order, each as
    /// [`JobStore::insert_as`] would have answered it alone. Every outcome is final (committed)
    /// when this returns.
    pub async fn insert_batch(&self, batch: &[Submission]) -> Vec<Result<Inserted>> {
        let mut outcomes: Vec<Option<Result<Inserted>>> = batch.iter().map(|_| None).collect();
        // A per-owner queue limit needs the single path's advisory lock and count; those go alone.
        let free: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].submitter.max_queued.is_none()).collect();
        if free.len() > 1 {
            match self.insert_free(batch, &free).await {
                Ok((mut created, refused)) => {
                    for &i in &free {
                        outcomes[i] = match (created.remove(&batch[i].job.id), refused.get(&i)) {
                            (Some(job), _) => Some(Ok(Inserted::Created(job))),
                            // A retry of an accepted submission still gets its job back.
                            (None, Some(&limit)) => {
                                Some(self.earlier(&batch[i]).await.unwrap_or(Err(StoreError::QueueFull { limit })))
                            }
                            (None, None) => self.earlier(&batch[i]).await,
                        };
                    }
                }
                // PostgreSQL refused the statement, so none of it was written. One bad row must
                // not fail the others: each goes again on its own below.
                Err(sqlx::Error::Database(e)) => {
                    warn!(error = %e, jobs = free.len(), "a batched insert was refused; inserting its jobs one by one");
                }
                // No answer (connection lost, pool exhausted): retrying each would only wait as
                // long again per job.
                Err(e) => {
                    let e = Arc::new(e);
                    for &i in &free {
                        outcomes[i] = Some(Err(StoreError::Batch(e.clone())));
                    }
                }
            }
        }
        let alone = outcomes.iter().enumerate().filter(|(_, o)| o.is_none()).map(|(i, _)| i).collect::<Vec<_>>();
        let results = futures_util::future::join_all(
            alone.iter().map(|&i| self.insert_as(batch[i].job.clone(), &batch[i].submitter)),
        )
        .await;
        for (i, result) in alone.into_iter().zip(results) {
            outcomes[i] = Some(result);
        }
        outcomes.into_iter().map(|o| o.expect("every submission has an outcome")).collect()
    }

    /// Inserts the submissions `free` (indices into `batch`) with one statement. When some are
    /// under the service-wide limit, it is checked as [`JobStore::insert_as`] does, under its
    /// lock: in order, each is admitted while the queue is below its limit; the others are
    /// returned refused, with their limit.
    async fn insert_free(
        &self,
        batch: &[Submission],
        free: &[usize],
    ) -> sqlx::Result<(HashMap<Uuid, Job>, HashMap<usize, i64>)> {
        if free.iter().all(|&i| batch[i].submitter.max_queued_total.is_none()) {
            let mut conn = self.pool.acquire().await?;
            return Ok((Self::insert_rows(&mut conn, free.iter().map(|&i| &batch[i])).await?, HashMap::new()));
        }
        let mut tx = self.pool.begin().await?;
        let mut queued = lock_queued_total(&mut tx).await?;
        let (mut admitted, mut refused) = (Vec::new(), HashMap::new());
        for &i in free {
            match batch[i].submitter.max_queued_total {
                Some(limit) if queued >= limit => {
                    refused.insert(i, limit);
                }
                _ => {
                    queued += 1;
                    admitted.push(i);
                }
            }
        }
        let created = Self::insert_rows(&mut tx, admitted.iter().map(|&i| &batch[i])).await?;
        tx.commit().await?;
        Ok((created, refused))
    }

    /// One statement: the job rows and their first log lines. Rows that meet an existing
    /// idempotency key (or one earlier in the same batch) are skipped and not returned.
    async fn insert_rows<'a>(
        conn: &mut sqlx::PgConnection,
        batch: impl ExactSizeIterator<Item = &'a Submission>,
    ) -> sqlx::Result<HashMap<Uuid, Job>> {
        let n = batch.len();
        let mut ids = Vec::with_capacity(n);
        let mut inputs = Vec::with_capacity(n);
        let mut options = Vec::with_capacity(n);
        let mut keys = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut owners = Vec::with_capacity(n);
        let mut callbacks = Vec::with_capacity(n);
        let mut batch_ids = Vec::with_capacity(n);
        let mut messages = Vec::with_capacity(n);
        for Submission { job, submitter } in batch {
            ids.push(job.id);
            inputs.push(Json(&job.input));
            options.push(Json(&job.options));
            keys.push(job.idempotency_key.as_deref());
            hashes.push(job.request_hash.as_deref());
            attempts.push(job.max_attempts);
            owners.push(submitter.owner);
            callbacks.push(submitter.callback_url.as_deref());
            batch_ids.push(submitter.batch_id);
            messages.push(submitted_message(&job.input));
        }
        // WITH ORDINALITY keeps the submissions' order, so of two with one key the first wins.
        let sql = format!(
            "WITH new AS (
                SELECT * FROM UNNEST($1::uuid[], $2::jsonb[], $3::jsonb[], $4::text[], $5::text[], $6::int4[],
                                     $7::uuid[], $8::text[], $9::text[], $10::uuid[]) WITH ORDINALITY
                    AS t(id, input, options, idempotency_key, request_hash, max_attempts, owner, callback_url,
                         message, batch_id, n)
             ), ins AS (
                INSERT INTO jobs (id, status, input, options, idempotency_key, request_hash, max_attempts, owner, callback_url,
                                  batch_id)
                SELECT id, 'queued', input, options, idempotency_key, request_hash, max_attempts, owner, callback_url,
                       batch_id
                FROM new ORDER BY n
                ON CONFLICT DO NOTHING
                RETURNING {JOB_COLUMNS}
             ), log AS (
                INSERT INTO job_logs (job_id, level, worker_id, message)
                SELECT new.id, 'info', 'api', new.message FROM new JOIN ins ON ins.id = new.id ORDER BY new.n
             )
             SELECT {JOB_COLUMNS} FROM ins"
        );
        let rows: Vec<Job> = sqlx::query_as(&sql)
            .bind(ids)
            .bind(inputs)
            .bind(options)
            .bind(keys)
            .bind(hashes)
            .bind(attempts)
            .bind(owners)
            .bind(callbacks)
            .bind(messages)
            .bind(batch_ids)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows.into_iter().map(|job| (job.id, job)).collect())
    }

    /// The outcome of a batched row that was skipped: the earlier job with its idempotency key,
    /// or the conflict. `None` when there is none (deleted since): it then goes alone.
    async fn earlier(&self, submission: &Submission) -> Option<Result<Inserted>> {
        let key = submission.job.idempotency_key.as_deref()?;
        let found = async {
            let mut conn = self.pool.acquire().await?;
            existing(&mut conn, submission.submitter.owner, key, &submission.job.request_hash).await
        };
        found.await.transpose().map(|r| r.map(Inserted::Existing))
    }
}
