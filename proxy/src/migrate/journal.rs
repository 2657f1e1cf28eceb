//! The journal beside the backup: one JSON line per step, synced before the next step
//! starts, so an interrupted run knows what already moved and resumes after it, and
//! `hookguard secrets migrate status` can say where things stand. It names secrets
//! (route, id, source, target), never their values or digests of them.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One secret the migration moves, as the journal names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Planned {
    pub(crate) route: String,
    pub(crate) secret_id: String,
    /// Where it is read from now (`env GH_SECRET`, `inline`, `file …`).
    pub(crate) from: String,
    /// Where it goes (`vault hookguard/github#primary`).
    pub(crate) to: String,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// The backup is on disk; the plan.
    Started {
        at: String,
        config: PathBuf,
        config_sha256: String,
        destination: String,
        items: Vec<Planned>,
    },
    /// One secret is in the destination.
    Written { route: String, secret_id: String },
    /// Every secret read back equal.
    Verified,
    /// Some read back different (their names).
    VerifyFailed { mismatched: Vec<String> },
    /// The rewritten config was written here.
    ConfigWritten { path: PathBuf },
    /// One secret's previous value is back in the destination.
    Restored { route: String, secret_id: String },
    /// The rollback finished.
    RolledBack,
}

/// Where a journal stands, replayed from its lines.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) started: Option<Event>,
    pub(crate) written: Vec<(String, String)>,
    pub(crate) restored: Vec<(String, String)>,
    pub(crate) verified: bool,
    pub(crate) verify_failed: Vec<String>,
    pub(crate) config_written: Option<PathBuf>,
    pub(crate) rolled_back: bool,
    /// A last line cut short by a crash (ignored: its step is redone).
    pub(crate) torn_tail: bool,
}

impl State {
    pub(crate) fn items(&self) -> &[Planned] {
        match &self.started {
            Some(Event::Started { items, .. }) => items,
            _ => &[],
        }
    }

    pub(crate) fn is_written(&self, route: &str, secret_id: &str) -> bool {
        self.written
            .iter()
            .any(|(r, s)| r == route && s == secret_id)
    }

    pub(crate) fn is_restored(&self, route: &str, secret_id: &str) -> bool {
        self.restored
            .iter()
            .any(|(r, s)| r == route && s == secret_id)
    }

    /// `pending`, `written`, `verified`, `restored` for one secret.
    pub(crate) fn item_state(&self, item: &Planned) -> &'static str {
        if self.is_restored(&item.route, &item.secret_id) {
            "restored"
        } else if !self.is_written(&item.route, &item.secret_id) {
            "pending"
        } else if self.verified {
            "verified"
        } else {
            "written"
        }
    }

    /// One word for the whole run.
    pub(crate) fn phase(&self) -> &'static str {
        if self.rolled_back {
            "rolled back"
        } else if !self.restored.is_empty() {
            "rollback interrupted"
        } else if self.verified {
            "complete"
        } else if !self.verify_failed.is_empty() {
            "verify failed"
        } else if self.written.len() < self.items().len() {
            "interrupted"
        } else {
            "written, not verified"
        }
    }
}

/// The journal file of `backup`.
pub(crate) fn path_of(backup: &Path) -> PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// Replays the journal at `path`; `Ok(None)` when there is none.
pub(crate) fn load(path: &Path) -> Result<Option<State>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("journal {}: {e}", path.display())),
    };
    let mut state = State::default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for (index, line) in lines.iter().enumerate() {
        let event: Event = match serde_json::from_str(line) {
            Ok(event) => event,
            // Only the last line can be torn by a crash mid-write.
            Err(_) if index + 1 == lines.len() && !text.ends_with('\n') => {
                state.torn_tail = true;
                break;
            }
            Err(e) => return Err(format!("journal {}:{}: {e}", path.display(), index + 1)),
        };
        match event {
            Event::Started { .. } => state.started = Some(event),
            Event::Written { route, secret_id } => state.written.push((route, secret_id)),
            Event::Verified => state.verified = true,
            Event::VerifyFailed { mismatched } => state.verify_failed = mismatched,
            Event::ConfigWritten { path } => state.config_written = Some(path),
            Event::Restored { route, secret_id } => state.restored.push((route, secret_id)),
            Event::RolledBack => state.rolled_back = true,
        }
    }
    if state.started.is_none() {
        return Err(format!(
            "journal {}: has no start record; it is not a migration journal",
            path.display()
        ));
    }
    Ok(Some(state))
}

/// Appends events, each synced to disk before `append` returns.
pub(crate) struct Writer {
    file: std::fs::File,
    path: PathBuf,
}

impl Writer {
    /// Opens (creating) the journal at `path` for appending. A last line torn by a crash
    /// is cut off first, so the next event starts a line of its own.
    pub(crate) fn open(path: &Path) -> Result<Self, String> {
        let failed = |e: std::io::Error| format!("journal {}: {e}", path.display());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(failed)?;
        let text = std::fs::read(path).map_err(failed)?;
        if !text.is_empty() && !text.ends_with(b"\n") {
            let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64).map_err(failed)?;
        }
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    pub(crate) fn append(&mut self, event: &Event) -> Result<(), String> {
        let mut line = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| format!("journal {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_ignored_and_the_state_replays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut writer = Writer::open(&path).unwrap();
        let item = Planned {
            route: "r".into(),
            secret_id: "a".into(),
            from: "inline".into(),
            to: "vault p#a".into(),
        };
        writer
            .append(&Event::Started {
                at: "now".into(),
                config: "c.toml".into(),
                config_sha256: "00".into(),
                destination: "vault".into(),
                items: vec![item.clone()],
            })
            .unwrap();
        writer
            .append(&Event::Written {
                route: "r".into(),
                secret_id: "a".into(),
            })
            .unwrap();
        let state = load(&path).unwrap().unwrap();
        assert_eq!(state.item_state(&item), "written");
        assert_eq!(state.phase(), "written, not verified");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"event\":\"verif");
        std::fs::write(&path, &text).unwrap();
        let state = load(&path).unwrap().unwrap();
        assert!(state.torn_tail);
        assert!(!state.verified);
        // The next writer cuts the torn line off and the journal reads whole again.
        Writer::open(&path)
            .unwrap()
            .append(&Event::Verified)
            .unwrap();
        let state = load(&path).unwrap().unwrap();
        assert!(!state.torn_tail && state.verified);
        assert_eq!(state.item_state(&item), "verified");
        std::fs::write(&path, "garbage\n{}\n").unwrap();
        assert!(load(&path).unwrap_err().contains(":1:"));
    }
}
