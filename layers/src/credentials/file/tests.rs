use std::path::Path;

use secrecy::ExposeSecret;

use super::*;
use crate::credentials::SecretSet;

/// A fresh directory under the target dir's temp space, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "hookguard-file-source-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn values(set: &SecretSet) -> Vec<(&str, &str)> {
    set.entries()
        .iter()
        .map(|e| (&*e.id, e.value.expose_secret()))
        .collect()
}

/// Lays out a secret volume the way the kubelet's atomic writer does:
/// `dir/..<version>/<key>`, `dir/..data -> ..<version>`, `dir/<key> -> ..data/<key>`.
#[cfg(unix)]
fn kubernetes_write(dir: &Path, version: &str, files: &[(&str, &str)]) {
    use std::os::unix::fs::symlink;

    let versioned = dir.join(format!("..{version}"));
    std::fs::create_dir(&versioned).unwrap();
    for (key, value) in files {
        std::fs::write(versioned.join(key), value).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (key, _) in files {
        let link = dir.join(key);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{key}"), &link).unwrap();
        }
    }
}

#[tokio::test]
async fn reads_files_relative_to_the_base_and_drops_one_trailing_newline() {
    let dir = TempDir::new("read");
    std::fs::write(dir.0.join("primary"), "s3cr3t\n").unwrap();
    std::fs::write(dir.0.join("next"), "n3xt\r\n\n").unwrap();
    let source = FileSource::new().base_dir(&dir.0).route(
        "github",
        [SecretRef::primary("primary"), SecretRef::next("next")],
    );
    let set = source.fetch("github").await.unwrap();
    assert_eq!(values(&set), [("primary", "s3cr3t"), ("next", "n3xt\r\n")]);
    assert!(set.entries()[0]
        .rotated_at
        .is_some_and(|t| t > 1_600_000_000));
}

#[tokio::test]
async fn missing_required_file_is_named_and_optional_one_skipped() {
    let dir = TempDir::new("missing");
    std::fs::write(dir.0.join("primary"), "s3cr3t").unwrap();
    let source = FileSource::new()
        .base_dir(&dir.0)
        .route(
            "a",
            [SecretRef::primary("primary"), SecretRef::next("absent")],
        )
        .route("b", [SecretRef::primary("absent")]);
    assert_eq!(source.fetch("a").await.unwrap().len(), 1);
    assert_eq!(
        source.fetch("b").await.unwrap_err().to_string(),
        "file absent not found"
    );
}

#[tokio::test]
async fn empty_and_non_utf8_files_are_refused_without_their_content() {
    let dir = TempDir::new("invalid");
    std::fs::write(dir.0.join("empty"), "\n").unwrap();
    std::fs::write(dir.0.join("binary"), [0xff, 0x00, 0x41]).unwrap();
    let source = FileSource::new()
        .base_dir(&dir.0)
        .route("a", [SecretRef::primary("empty")])
        .route("b", [SecretRef::primary("binary")]);
    let empty = source.fetch("a").await.unwrap_err().to_string();
    assert!(empty.ends_with("empty: empty"), "{empty}");
    let binary = source.fetch("b").await.unwrap_err().to_string();
    assert!(binary.ends_with("binary: not valid UTF-8"), "{binary}");
}

#[cfg(unix)]
#[tokio::test]
async fn kubernetes_symlink_swap_changes_the_revision_and_the_value() {
    let dir = TempDir::new("k8s");
    kubernetes_write(
        &dir.0,
        "2024_01_01_00_00_00.1",
        &[("webhook-secret", "old-secret")],
    );
    let source = FileSource::new()
        .base_dir(&dir.0)
        .route("github", [SecretRef::primary("webhook-secret")]);
    let before = source.revision("github").unwrap();
    assert_eq!(
        values(&source.fetch("github").await.unwrap()),
        [("primary", "old-secret")]
    );
    assert_eq!(source.revision("github"), Some(before), "revision unstable");

    kubernetes_write(
        &dir.0,
        "2024_02_01_00_00_00.2",
        &[("webhook-secret", "new-secret")],
    );
    assert_ne!(source.revision("github"), Some(before));
    assert_eq!(
        values(&source.fetch("github").await.unwrap()),
        [("primary", "new-secret")]
    );
}

#[tokio::test]
async fn in_place_rewrite_changes_the_revision() {
    let dir = TempDir::new("rewrite");
    let path = dir.0.join("secret");
    std::fs::write(&path, "first").unwrap();
    let source = FileSource::new().route("r", [SecretRef::primary(path.display().to_string())]);
    let before = source.revision("r").unwrap();
    std::fs::write(&path, "second value").unwrap();
    assert_ne!(source.revision("r").unwrap(), before);
    assert_eq!(source.revision("other"), None);
}
