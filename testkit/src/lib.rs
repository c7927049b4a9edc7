//! What the workspace's tests share (a dev-dependency only):
//! - [`fixture`]: the recordings and references under `tests/data/`, committed with the code, so a
//!   clone with nothing beside it runs every test;
//! - [`models_dir`] / [`model`]: the weights `scripts/setup-models.sh` installs;
//! - [`TestBackends`]: a PostgreSQL database and Redis key prefix of one test's own, removed when
//!   the test ends, pass or fail;
//! - [`wait_until`] / [`poll`]: waiting on a condition instead of sleeping a fixed time;
//! - [`test_device`]: the device the speech tests run on (`SPEECH_TEST_DEVICE`).

mod backends;
mod device;
mod files;
mod wait;

pub use backends::{TestBackends, POSTGRES_SERVER, REDIS_URL};
pub use device::{test_device, TestDevice, SPEECH_TEST_DEVICE};
pub use files::{fixture, model, models_dir, repo_root};
pub use wait::{poll, wait_until};
