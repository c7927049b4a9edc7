//! Where the tests find their fixtures and models.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives one level below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit sits inside the workspace").to_path_buf()
}

/// `tests/data/<name>`, a fixture committed with the code (origins and licences in
/// `tests/data/SOURCES.md`). Panics when it is missing, so a test never passes without its input.
pub fn fixture(name: &str) -> PathBuf {
    let path = repo_root().join("tests/data").join(name);
    assert!(
        path.is_file(),
        "missing test fixture {}: fixtures live in tests/data/ (see its SOURCES.md)",
        path.display()
    );
    path
}

/// The models folder: `$MODELS_DIR` when set (as for `scripts/setup-models.sh`), else `models/`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("models"))
}

/// `<models_dir>/<name>`; panics, saying how to install it, when it is missing.
pub fn model(name: &str) -> PathBuf {
    let path = models_dir().join(name);
    assert!(path.exists(), "missing model {}: run scripts/setup-models.sh", path.display());
    path
}
