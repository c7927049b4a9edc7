//! Redis carries wake-ups only: a stream of job ids read through a consumer group, and
//! channels announcing cancellations, model gc and drain requests. Losing any loses no job and
//! no request (PostgreSQL is the truth).

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use redis::{AsyncCommands, RedisError};
use uuid::Uuid;

const GROUP: &str = "workers";
/// The stream only needs recent entries: the reconciler re-sends anything older.
const STREAM_MAX_LEN: usize = 1_000_000;

#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct QueueError(#[from] RedisError);

pub type Result<T> = std::result::Result<T, QueueError>;

/// One delivery of a job id from the stream.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub entry_id: String,
    /// `None` when the entry held something that is not a job id (acknowledge and skip it).
    pub job_id: Option<Uuid>,
}

#[derive(Clone)]
pub struct Queue {
    client: redis::Client,
    conn: ConnectionManager,
    stream: String,
    cancel_channel: String,
    gc_channel: String,
    drain_channel: String,
}

impl Queue {
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = Self::manager(&client, Duration::from_secs(5)).await?;
        Ok(Self {
            client,
            conn,
            stream: format!("{key_prefix}jobs"),
            cancel_channel: format!("{key_prefix}cancel"),
            gc_channel: format!("{key_prefix}workers:gc"),
            drain_channel: format!("{key_prefix}workers:drain"),
        })
    }

    async fn manager(client: &redis::Client, response_timeout: Duration) -> Result<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(response_timeout)
            .set_number_of_retries(3)
            .set_max_delay(2_000);
        Ok(client.get_connection_manager_with_config(config).await?)
    }

    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Announces a job to the workers.
    pub async fn dispatch(&self, id: Uuid) -> Result<()> {
        let mut conn = self.conn.clone();
        self.xadd(id).query_async::<String>(&mut conn).await?;
        Ok(())
    }

    /// Announces many jobs in one round trip (a pipeline: one stream entry per job).
    pub async fn dispatch_many(&self, ids: &[Uuid]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.add_command(self.xadd(*id)).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    fn xadd(&self, id: Uuid) -> redis::Cmd {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.stream).arg("MAXLEN").arg("~").arg(STREAM_MAX_LEN).arg("*").arg("job").arg(id.to_string());
        cmd
    }

    /// Creates the stream and its consumer group if they do not exist (e.g. after a flush).
    pub async fn ensure_group(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => Ok(other?),
        }
    }

    pub async fn publish_cancel(&self, id: Uuid) -> Result<()> {
        let mut conn = self.conn.clone();
        conn.publish::<_, _, i64>(&self.cancel_channel, id.to_string()).await?;
        Ok(())
    }

    /// Asks every listening worker to drop its cached models; returns how many heard it.
    pub async fn publish_gc(&self) -> Result<i64> {
        let mut conn = self.conn.clone();
        Ok(conn.publish::<_, _, i64>(&self.gc_channel, "gc").await?)
    }

    /// One item per announced request to drop cached models. Ends if the connection drops.
    pub async fn gc_requests(&self) -> Result<futures_util::stream::BoxStream<'static, ()>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.gc_channel).await?;
        Ok(pubsub.into_on_message().map(|_| ()).boxed())
    }

    /// Wakes worker `worker_id` to read the drain request stored in its presence row; returns
    /// how many listeners heard it (a worker that missed it reads the row at its next heartbeat).
    pub async fn publish_drain(&self, worker_id: &str) -> Result<i64> {
        let mut conn = self.conn.clone();
        Ok(conn.publish::<_, _, i64>(&self.drain_channel, worker_id).await?)
    }

    /// Ids of workers whose drain request was announced. Ends if the connection drops.
    pub async fn drain_requests(&self) -> Result<futures_util::stream::BoxStream<'static, String>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.drain_channel).await?;
        Ok(pubsub.into_on_message().filter_map(|msg| async move { msg.get_payload::<String>().ok() }).boxed())
    }

    /// Ids of jobs whose cancellation was announced. The stream ends if the connection drops;
    /// callers subscribe again (and rely on the lease heartbeat meanwhile).
    pub async fn cancellations(&self) -> Result<futures_util::stream::BoxStream<'static, Uuid>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.cancel_channel).await?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|msg| async move { msg.get_payload::<String>().ok()?.parse().ok() })
            .boxed())
    }

    /// A consumer with its own connection, because a blocking read holds the connection.
    pub async fn consumer(&self, name: &str, block: Duration) -> Result<Consumer> {
        let conn = Self::manager(&self.client, block + Duration::from_secs(5)).await?;
        self.ensure_group().await?;
        Ok(Consumer { queue: self.clone(), conn, name: name.to_string(), block })
    }
}

pub struct Consumer {
    queue: Queue,
    conn: ConnectionManager,
    name: String,
    block: Duration,
}

impl Consumer {
    /// Waits up to the block time for the next delivery.
    pub async fn next(&mut self) -> Result<Option<Delivery>> {
        let reply: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.name)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(self.block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.queue.stream)
            .arg(">")
            .query_async(&mut self.conn)
            .await;
        match reply {
            Ok(reply) => Ok(reply.and_then(first_delivery)),
            Err(e) if e.code() == Some("NOGROUP") => {
                // The stream is gone (Redis restarted or was flushed): recreate it. Jobs queued
                // meanwhile come back through the reconciler.
                self.queue.ensure_group().await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn ack(&mut self, delivery: &Delivery) -> Result<()> {
        redis::cmd("XACK")
            .arg(&self.queue.stream)
            .arg(GROUP)
            .arg(&delivery.entry_id)
            .query_async::<i64>(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Takes over deliveries left pending by dead consumers for longer than `min_idle`.
    /// Their jobs are re-checked against PostgreSQL like any delivery.
    pub async fn reclaim(&mut self, min_idle: Duration) -> Result<Vec<Delivery>> {
        let reply: redis::RedisResult<StreamAutoClaimReply> = redis::cmd("XAUTOCLAIM")
            .arg(&self.queue.stream)
            .arg(GROUP)
            .arg(&self.name)
            .arg(min_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(100)
            .query_async(&mut self.conn)
            .await;
        match reply {
            Ok(reply) => Ok(reply.claimed.into_iter().map(|entry| to_delivery(&entry)).collect()),
            Err(e) if e.code() == Some("NOGROUP") => Ok(vec![]),
            Err(e) => Err(e.into()),
        }
    }
}

fn first_delivery(reply: StreamReadReply) -> Option<Delivery> {
    reply.keys.into_iter().flat_map(|k| k.ids).next().map(|entry| to_delivery(&entry))
}

fn to_delivery(entry: &redis::streams::StreamId) -> Delivery {
    let job_id = entry.get::<String>("job").and_then(|s| s.parse().ok());
    Delivery { entry_id: entry.id.clone(), job_id }
}
