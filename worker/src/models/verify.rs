//! Checks a downloaded file against the checksum the hub gives in its ETag: the SHA-256 of the
//! content for files kept in Git LFS (the weights), the Git blob SHA-1 for the others (config and
//! tokenizer files). A file whose ETag is neither is refused rather than installed unchecked.

use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::ModelsError;

/// Verifies `path`, the download of the repository's `file`, against `etag` and `size`.
pub fn file(path: &Path, file: &str, etag: &str, size: usize) -> Result<(), ModelsError> {
    let etag = etag.trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
    let actual_size = std::fs::metadata(path).map_err(|e| ModelsError::io("reading", path, e))?.len();
    if actual_size != size as u64 {
        return Err(corrupt(file, "size", size.to_string(), actual_size.to_string()));
    }
    let is_hex = etag.bytes().all(|b| b.is_ascii_hexdigit());
    let (algorithm, actual) = match etag.len() {
        64 if is_hex => ("SHA-256", digest(path, Sha256::new())?),
        40 if is_hex => {
            // Git hashes a blob as "blob <length>\0" followed by the content.
            let mut hasher = Sha1::new();
            hasher.update(format!("blob {actual_size}\0").as_bytes());
            ("Git blob SHA-1", digest(path, hasher)?)
        }
        _ => return Err(ModelsError::Unverifiable { file: file.to_string(), etag }),
    };
    if actual != etag {
        return Err(corrupt(file, algorithm, etag, actual));
    }
    Ok(())
}

fn corrupt(file: &str, algorithm: &'static str, expected: String, actual: String) -> ModelsError {
    ModelsError::Corrupt { file: file.to_string(), algorithm, expected, actual }
}

/// The hex digest of `hasher` fed with the file's content.
fn digest(path: &Path, mut hasher: impl Digest) -> Result<String, ModelsError> {
    let mut reader = std::fs::File::open(path).map_err(|e| ModelsError::io("opening", path, e))?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buffer).map_err(|e| ModelsError::io("reading", path, e))?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_and_lfs_checksums_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, b"hello\n").unwrap();
        // `git hash-object` and `sha256sum` of "hello\n".
        let git = "ce013625030ba8dba906f756967f9e9ca394464a";
        let sha256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        file(&path, "config.json", git, 6).unwrap();
        file(&path, "config.json", &format!("\"{sha256}\""), 6).unwrap();
        let wrong = file(&path, "config.json", &sha256.replace('5', "6"), 6).unwrap_err();
        assert!(matches!(wrong, ModelsError::Corrupt { algorithm: "SHA-256", .. }), "{wrong}");
        assert!(matches!(file(&path, "config.json", git, 7), Err(ModelsError::Corrupt { algorithm: "size", .. })));
        assert!(matches!(file(&path, "config.json", "xyz", 6), Err(ModelsError::Unverifiable { .. })));
    }
}
