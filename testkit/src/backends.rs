//! A PostgreSQL database and Redis key prefix of one test's own, on the local servers that
//! `scripts/setup.sh` starts, removed again when the test ends.

use uuid::Uuid;

/// The local PostgreSQL server, without a database name.
pub const POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// The local Redis server.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Names a fresh database `test_<tag>` and Redis key prefix `test:<tag>:`. The code under test
/// creates the database (`JobStore::connect` creates a missing one); dropping the guard drops the
/// database, forcing out open connections, and deletes the prefix's keys. Drop runs when a test
/// panics too, so only a killed test run leaves `test_*` databases behind (`scripts/test.sh`
/// removes those).
pub struct TestBackends {
    tag: String,
}

impl TestBackends {
    #[allow(clippy::new_without_default)] // each call names new backends: not a default value
    pub fn new() -> Self {
        Self { tag: Uuid::now_v7().simple().to_string() }
    }

    pub fn database_name(&self) -> String {
        format!("test_{}", self.tag)
    }

    pub fn database_url(&self) -> String {
        format!("{POSTGRES_SERVER}/{}", self.database_name())
    }

    pub fn redis_prefix(&self) -> String {
        format!("test:{}:", self.tag)
    }
}

impl Drop for TestBackends {
    fn drop(&mut self) {
        let (database, prefix) = (self.database_name(), self.redis_prefix());
        // A thread and runtime of its own: the guard is usually dropped inside a test's runtime,
        // which cannot block on a future itself.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Err(e) = drop_database(&database).await {
                    eprintln!("testkit: could not drop database {database}: {e}");
                }
                if let Err(e) = delete_keys(&prefix).await {
                    eprintln!("testkit: could not delete Redis keys {prefix}*: {e}");
                }
            });
        });
        let _ = cleanup.join();
    }
}

async fn drop_database(name: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&format!("{POSTGRES_SERVER}/postgres")).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await?;
    Ok(())
}

async fn delete_keys(prefix: &str) -> redis::RedisResult<()> {
    let mut conn = redis::Client::open(REDIS_URL)?.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(keys).query_async::<i64>(&mut conn).await?;
    }
    Ok(())
}
