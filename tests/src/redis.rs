//! A real `redis-server` for tests: a free 127.0.0.1 port, its own temporary directory,
//! optional AOF persistence, `kill -9` and a restart on the same port. Killed on drop.
//!
//! ```no_run
//! let mut redis = hookguard_tests::RedisServer::builder().persistent().start();
//! let url = redis.url(); // redis://127.0.0.1:PORT/
//! redis.kill9();
//! redis.restart(); // same port, same directory: the AOF is replayed
//! ```
//!
//! Synchronous on purpose: starting takes a few milliseconds, and a test of any kind (sync,
//! tokio, inside a conformance macro) can call it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start (or restart) may take before the test fails.
const START_WITHIN: Duration = Duration::from_secs(10);
/// Attempts when the port picked was taken before the server bound it.
const PORT_ATTEMPTS: usize = 5;

/// Options for [`RedisServer`].
#[derive(Debug, Default, Clone)]
pub struct RedisServerBuilder {
    persistent: bool,
}

impl RedisServerBuilder {
    /// AOF on with `appendfsync always`: every acknowledged write survives `kill -9`.
    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    /// Starts the server and waits until it answers `PING`. Panics (failing the test) with
    /// the server's output when it cannot start, e.g. when `redis-server` is not installed
    /// (`make deps` installs it).
    pub fn start(self) -> RedisServer {
        let mut dir = tempfile::tempdir().expect("a temporary directory for redis");
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let addr = free_port();
            let mut server = RedisServer {
                addr,
                persistent: self.persistent,
                dir,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => {
                    last_error = e;
                    dir = server.into_dir();
                }
            }
        }
        panic!("redis-server did not start: {last_error}");
    }
}

/// A running `redis-server` the test owns.
#[derive(Debug)]
pub struct RedisServer {
    addr: SocketAddr,
    persistent: bool,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Options: [`RedisServerBuilder::persistent`].
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// A server without persistence (a restart comes back empty).
    pub fn start() -> RedisServer {
        Self::builder().start()
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its working directory (the AOF lives here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILL, and waits for the process to be gone: nothing is flushed.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is running (as far as this handle knows).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts it again on the same port and directory; waits for `PING`.
    pub fn restart(&mut self) {
        self.kill9();
        let deadline = Instant::now() + START_WITHIN;
        // The old socket may linger a moment after the kill.
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => panic!("redis-server restart: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Sends one inline command and returns the raw reply (tests' back door: `DBSIZE`,
    /// `FLUSHALL`, `CONFIG SET`…).
    pub fn command(&self, inline: &str) -> String {
        let mut stream = TcpStream::connect(self.addr).expect("connect to redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        stream
            .write_all(format!("{inline}\r\n").as_bytes())
            .expect("write to redis");
        let mut reply = vec![0u8; 64 * 1024];
        let n = stream.read(&mut reply).unwrap_or(0);
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let mut command = Command::new("redis-server");
        command
            .arg("--port")
            .arg(self.addr.port().to_string())
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--protected-mode",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log);
        if self.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run redis-server (is it installed?): {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_WITHIN;
        loop {
            if ping(self.addr) {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("exited with {status}: {log}"));
            }
            if Instant::now() >= deadline {
                self.kill9();
                return Err(format!("no PONG on {} within {START_WITHIN:?}", self.addr));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn into_dir(mut self) -> tempfile::TempDir {
        self.kill9();
        let placeholder = tempfile::tempdir().expect("a temporary directory");
        std::mem::replace(&mut self.dir, placeholder)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    // A server still loading its AOF answers -LOADING: not ready yet.
    stream
        .read(&mut reply)
        .is_ok_and(|n| reply[..n].starts_with(b"+PONG"))
}

/// A port that was free a moment ago.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
}
