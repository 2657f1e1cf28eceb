//! The backup a migration writes before it changes anything: the original config file, and
//! for every secret it moves, the value and what the destination held at that place before
//! (so a rollback can put it back). Encrypted with a passphrase.
//!
//! File format: `HGMIGRATE1` | salt (16 bytes) | nonce (24 bytes) | ciphertext. The key is
//! Argon2id (RustCrypto `argon2`, its default cost: 19 MiB, 2 passes) of the passphrase and
//! the salt; the AEAD is XChaCha20-Poly1305 (`chacha20poly1305`, as the delivery queue's
//! sealer uses), with the magic and salt as associated data so neither can be swapped.
//! A wrong passphrase and a damaged file give the same error: the tag does not verify.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

const MAGIC: &[u8] = b"HGMIGRATE1";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;

/// The shortest passphrase accepted: Argon2 slows guessing, it does not make "abc" safe.
pub(crate) const MIN_PASSPHRASE: usize = 12;

/// Everything needed to undo a migration.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Backup {
    /// The configuration file, as given on the command line.
    #[zeroize(skip)]
    pub(crate) config_path: PathBuf,
    /// Its text before the migration.
    pub(crate) config_text: String,
    /// Where the secrets went.
    #[zeroize(skip)]
    pub(crate) destination: super::DestSpec,
    /// One entry per secret moved, in order.
    pub(crate) items: Vec<BackedUp>,
}

/// One moved secret.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct BackedUp {
    pub(crate) route: String,
    pub(crate) secret_id: String,
    /// The value moved.
    pub(crate) value: String,
    /// What the destination held at the target before, if anything.
    pub(crate) prior: Option<String>,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup")
            .field("config_path", &self.config_path)
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}

fn key(passphrase: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::default()
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| format!("deriving the backup key: {e}"))?;
    Ok(key)
}

impl Backup {
    /// Encrypts and writes to `path`, which must not exist yet (file mode 0600), synced to
    /// disk before returning: nothing is written to the destination until this succeeds.
    pub(crate) fn write(&self, path: &Path, passphrase: &str) -> Result<(), String> {
        let plain = Zeroizing::new(
            serde_json::to_vec(self).map_err(|e| format!("encoding the backup: {e}"))?,
        );
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut salt);
        rand::thread_rng().fill_bytes(&mut nonce);
        let key = key(passphrase, &salt)?;
        let aad = [MAGIC, &salt].concat();
        let sealed = XChaCha20Poly1305::new(key.as_ref().into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .map_err(|_| "encrypting the backup failed".to_string())?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .map_err(|e| format!("backup {}: {e}", path.display()))?;
        file.write_all(&aad)
            .and_then(|()| file.write_all(&nonce))
            .and_then(|()| file.write_all(&sealed))
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("backup {}: {e}", path.display()))
    }

    /// Reads and decrypts `path`.
    pub(crate) fn read(path: &Path, passphrase: &str) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("backup {}: {e}", path.display()))?;
        let header = MAGIC.len() + SALT_LEN + NONCE_LEN;
        if bytes.len() < header || !bytes.starts_with(MAGIC) {
            return Err(format!(
                "backup {}: not a hookguard migration backup (expected it to start with {})",
                path.display(),
                String::from_utf8_lossy(MAGIC)
            ));
        }
        let (aad, rest) = bytes.split_at(MAGIC.len() + SALT_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let key = key(passphrase, &aad[MAGIC.len()..])?;
        let plain = Zeroizing::new(
            XChaCha20Poly1305::new(key.as_ref().into())
                .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
                .map_err(|_| {
                    format!(
                        "backup {}: does not decrypt: wrong passphrase, or the file is damaged",
                        path.display()
                    )
                })?,
        );
        serde_json::from_slice(&plain).map_err(|e| format!("backup {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Backup {
        Backup {
            config_path: "hookguard.toml".into(),
            config_text: "x = 1\n".into(),
            destination: super::super::DestSpec::Vault(super::super::dest::VaultDest {
                addr: "http://v".into(),
                mount: "secret".into(),
                prefix: "hookguard".into(),
                namespace: None,
                token_env: "VAULT_TOKEN".into(),
            }),
            items: vec![BackedUp {
                route: "github".into(),
                secret_id: "primary".into(),
                value: "s3cret-value".into(),
                prior: Some("older".into()),
            }],
        }
    }

    #[test]
    fn a_backup_opens_with_its_passphrase_only_and_holds_no_plain_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        sample().write(&path, "correct horse battery").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(12).any(|w| w == b"s3cret-value"));
        let back = Backup::read(&path, "correct horse battery").unwrap();
        assert_eq!(back.items[0].value, "s3cret-value");
        assert_eq!(back.items[0].prior.as_deref(), Some("older"));
        let wrong = Backup::read(&path, "wrong horse battery").unwrap_err();
        assert!(wrong.contains("wrong passphrase"), "{wrong}");
        assert!(!format!("{back:?}").contains("s3cret"));
    }

    #[test]
    fn a_tampered_backup_is_refused_and_an_existing_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        sample().write(&path, "correct horse battery").unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(Backup::read(&path, "correct horse battery").is_err());
        assert!(sample().write(&path, "correct horse battery").is_err());
        std::fs::write(&path, b"hello").unwrap();
        let err = Backup::read(&path, "correct horse battery").unwrap_err();
        assert!(err.contains("not a hookguard migration backup"), "{err}");
    }
}
