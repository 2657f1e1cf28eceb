//! `hookguard secrets migrate`: moving secrets written inline, in environment variables or
//! in files into Vault KV v2 or Infisical, safely.
//!
//! The order of a run, and what makes each step safe:
//! 1. **Plan**: the route secrets to move, their values read as the sidecar reads them,
//!    and the configuration rewritten to point at the new places ([`rewrite`]) — all
//!    before anything is written, so a problem stops the run with nothing changed.
//! 2. **Backup** ([`backup`]): the original config, each value, and what the destination
//!    held at each target before; encrypted with a passphrase and synced to disk.
//! 3. **Write**, one secret at a time, each recorded in the [`journal`] once the store
//!    accepted it; a run interrupted here resumes after the last recorded secret.
//! 4. **Verify**: every secret read back through the sidecar's own source for the new
//!    config entry, compared by SHA-256 digest (values are never printed).
//! 5. **Config**: printed as a diff (values masked) or written next to the original.
//!
//! A rollback puts each target's previous value back (or removes it when there was none)
//! and restores the original config text.

pub(crate) mod backup;
pub(crate) mod dest;
pub(crate) mod journal;
pub(crate) mod rewrite;

pub(crate) use dest::DestSpec;
