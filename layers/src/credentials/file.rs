//! [`FileSource`]: secrets in files, such as a mounted Kubernetes secret.
//!
//! Kubernetes mounts a secret as a directory whose entries are symlinks through `..data`,
//! itself a symlink to a timestamped directory; an update writes a new directory and
//! swaps `..data` atomically. Reading through the path always sees one consistent
//! version. [`CredentialSource::revision`] fingerprints each file by its resolved path,
//! inode, size and modification time (all following the symlinks), so the swap — or an
//! in-place rewrite — is noticed by the cache's refresher at its next pass, well before
//! the TTL.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use secrecy::SecretString;
use zeroize::Zeroize;

use super::secret::SecretEntry;
use super::source::{collect_refs, refs_of, CredentialSource, FetchFuture, SecretRef, SourceError};

/// Secrets in files: per route, one file per secret (`SecretRef::name` is the path,
/// relative to the base directory if one is set).
///
/// A file holds the secret alone; one trailing newline (`\n` or `\r\n`) is dropped, since
/// editors and `kubectl create secret --from-file` often add one. The file's modification
/// time is reported as the secret's rotation time.
#[derive(Debug, Default)]
pub struct FileSource {
    base: Option<PathBuf>,
    routes: HashMap<String, Vec<SecretRef>>,
}

impl FileSource {
    /// A source with paths taken as given.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolves relative secret paths against `dir` (the secret's mount point).
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base = Some(dir.into());
        self
    }

    /// The files holding `route`'s secrets.
    pub fn route(
        mut self,
        route: impl Into<String>,
        secrets: impl IntoIterator<Item = SecretRef>,
    ) -> Self {
        self.routes
            .insert(route.into(), secrets.into_iter().collect());
        self
    }
}

fn path_in(base: Option<&Path>, secret: &SecretRef) -> PathBuf {
    match base {
        Some(base) => base.join(&secret.name),
        None => PathBuf::from(&secret.name),
    }
}

fn read_secret(secret: &SecretRef, path: &Path) -> Result<Option<SecretEntry>, SourceError> {
    let io_error = |error| SourceError::Io {
        path: path.display().to_string(),
        error,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(e)),
    };
    let rotated_at = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    let invalid = |problem| SourceError::Invalid {
        what: "file",
        name: path.display().to_string(),
        problem,
    };
    let mut text = String::from_utf8(bytes).map_err(|e| {
        e.into_bytes().zeroize();
        invalid("not valid UTF-8")
    })?;
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .map_or(text.len(), str::len);
    text.truncate(trimmed);
    if text.is_empty() {
        return Err(invalid("empty"));
    }
    let mut entry = SecretEntry::new(secret.id.clone(), SecretString::from(text));
    entry.rotated_at = rotated_at;
    Ok(Some(entry))
}

fn fingerprint(path: &Path, hasher: &mut DefaultHasher) {
    path.canonicalize().ok().hash(hasher);
    match std::fs::metadata(path) {
        Ok(meta) => {
            meta.len().hash(hasher);
            meta.modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .hash(hasher);
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                (meta.dev(), meta.ino()).hash(hasher);
            }
        }
        Err(e) => e.kind().hash(hasher),
    }
}

impl CredentialSource for FileSource {
    fn name(&self) -> &str {
        "file"
    }

    fn fetch<'a>(&'a self, route: &'a str) -> FetchFuture<'a> {
        let refs = refs_of(&self.routes, route).cloned();
        let base = self.base.clone();
        Box::pin(async move {
            let refs = refs?;
            // Off the async workers: a stuck mount blocks a blocking-pool thread, and the
            // cache's fetch timeout still answers.
            tokio::task::spawn_blocking(move || {
                collect_refs(&refs, "file", |secret| {
                    read_secret(secret, &path_in(base.as_deref(), secret))
                })
            })
            .await
            .map_err(|e| SourceError::Config(format!("file reader task failed: {e}")))?
        })
    }

    fn revision(&self, route: &str) -> Option<u64> {
        let refs = self.routes.get(route)?;
        let mut hasher = DefaultHasher::new();
        for secret in refs {
            fingerprint(&path_in(self.base.as_deref(), secret), &mut hasher);
        }
        Some(hasher.finish())
    }
}

#[cfg(test)]
mod tests;
