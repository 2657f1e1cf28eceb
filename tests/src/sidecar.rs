//! The real `hookguard run -c FILE`, on free ports, its output captured.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the sidecar may take to answer `/readyz` with 200 after starting.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts at starting when the free ports picked were taken in between.
const START_ATTEMPTS: usize = 3;

/// Builds a [`Sidecar`]: `sidecar(bin).config(toml).start().await`.
#[derive(Debug)]
pub struct SidecarBuilder {
    bin: PathBuf,
    config: String,
    env: Vec<(String, String)>,
    files: Vec<(PathBuf, Vec<u8>)>,
    secrets: Vec<String>,
}

/// Starts building a sidecar run by the binary at `bin` (`env!("CARGO_BIN_EXE_hookguard")`).
pub fn sidecar(bin: impl Into<PathBuf>) -> SidecarBuilder {
    SidecarBuilder {
        bin: bin.into(),
        config: String::new(),
        env: Vec::new(),
        files: Vec::new(),
        secrets: Vec::new(),
    }
}

impl SidecarBuilder {
    /// The configuration, TOML, without `listen` and `admin_listen`: those are added, on
    /// free ports.
    pub fn config(mut self, toml: impl Into<String>) -> Self {
        self.config = toml.into();
        self
    }

    /// Sets an environment variable of the process whose value is a secret (it is then
    /// looked for in the logs, like inline `value`s).
    pub fn secret_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self.secrets.push(value.to_owned());
        self
    }

    /// Writes a file holding a secret beside the configuration (`relative` to its directory).
    pub fn secret_file(mut self, relative: &str, value: &str) -> Self {
        self.files
            .push((PathBuf::from(relative), value.as_bytes().to_vec()));
        self.secrets.push(value.to_owned());
        self
    }

    /// Writes a plain file beside the configuration (`relative` to its directory), e.g. a
    /// JSON Schema a route reads.
    pub fn file(mut self, relative: &str, contents: &str) -> Self {
        self.files
            .push((PathBuf::from(relative), contents.as_bytes().to_vec()));
        self
    }

    /// Starts the process and waits until `/readyz` answers 200 and the proxy port accepts
    /// connections. Panics (with the process's stderr) when it does not within 20 s.
    pub async fn start(self) -> Sidecar {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (relative, contents) in &self.files {
            let path = dir.path().join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create the file's directory");
            }
            std::fs::write(path, contents).expect("write a file beside the configuration");
        }
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            let listen = free_port();
            let admin = free_port();
            let mut sidecar = Sidecar {
                child: None,
                config_path: dir.path().join("hookguard.toml"),
                listen,
                admin,
                stdout: Arc::default(),
                stderr: Arc::default(),
                readers: Vec::new(),
                secrets: self.secrets.clone(),
                bin: self.bin.clone(),
                env: self.env.clone(),
                _dir: None,
            };
            sidecar.write_config(&self.config);
            sidecar.spawn(&self.bin, &self.env);
            match sidecar.wait_ready().await {
                Ok(()) => {
                    sidecar._dir = Some(dir);
                    return sidecar;
                }
                Err(why) => {
                    let stderr = sidecar.stderr_lines().join("\n");
                    // Another process took a picked port between probing and binding: retry.
                    let port_taken = stderr.contains("in use");
                    sidecar.stop();
                    last_failure = format!("{why}\nstderr:\n{stderr}");
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        panic!("the sidecar did not start: {last_failure}");
    }
}

/// A running `hookguard run`; killed when dropped, after checking that no secret of its
/// configuration reached its output.
pub struct Sidecar {
    child: Option<Child>,
    config_path: PathBuf,
    listen: SocketAddr,
    admin: SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    /// Every secret the process was given: inline values and keys of every config text
    /// written, and the secret env vars and files.
    secrets: Vec<String>,
    bin: PathBuf,
    env: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Sidecar {
    /// `http://127.0.0.1:PORT{path}` on the proxy listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    /// `http://127.0.0.1:PORT{path}` on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// The proxy listener's address (for raw connections).
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// The configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// `GET` on the admin listener: status and body. Panics when it does not answer.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        admin_get(self.admin, path)
            .await
            .unwrap_or_else(|e| panic!("admin GET {path}: {e}"))
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.admin_get("/metrics").await;
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        body
    }

    /// Replaces the configuration file atomically (write beside, then rename), as an
    /// editor or a ConfigMap swap would; the same listen addresses are kept.
    pub fn rewrite_config(&mut self, toml: &str) {
        self.write_config(toml);
    }

    fn write_config(&mut self, toml: &str) {
        self.secrets.extend(secrets_in(toml));
        let text = format!(
            "listen = \"{}\"\nadmin_listen = \"{}\"\n{toml}\n",
            self.listen, self.admin
        );
        let staging = self.config_path.with_extension("toml.new");
        std::fs::write(&staging, text).expect("write the configuration");
        std::fs::rename(&staging, &self.config_path).expect("swap the configuration in");
    }

    fn spawn(&mut self, bin: &Path, env: &[(String, String)]) {
        let mut child = Command::new(bin)
            .arg("run")
            .arg("-c")
            .arg(&self.config_path)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        self.readers
            .push(collect_lines(stdout, Arc::clone(&self.stdout)));
        self.readers
            .push(collect_lines(stderr, Arc::clone(&self.stderr)));
        self.child = Some(child);
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.try_wait() {
                return Err(format!("the process exited ({status}) before it was ready"));
            }
            let ready = matches!(admin_get(self.admin, "/readyz").await, Ok((200, _)));
            if ready && tokio::net::TcpStream::connect(self.listen).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready within {START_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Kills the process with SIGKILL (no chance to flush or clean up), as a crash or an
    /// OOM kill would; its files stay for [`Sidecar::restart`].
    pub fn kill9(&mut self) {
        self.stop();
    }

    /// Starts the process again on the same configuration file, ports and directory (a
    /// restart after [`Sidecar::kill9`]), and waits until it is ready.
    pub async fn restart(&mut self) {
        self.stop();
        let (bin, env) = (self.bin.clone(), self.env.clone());
        self.spawn(&bin, &env);
        if let Err(why) = self.wait_ready().await {
            panic!(
                "the sidecar did not restart: {why}\nstderr:\n{}",
                self.stderr_lines().join("\n")
            );
        }
    }

    /// The directory holding the configuration (and, by default, the queue).
    pub fn dir(&self) -> &Path {
        self.config_path.parent().unwrap_or(Path::new("."))
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn sigterm(&self) {
        let pid = self.child.as_ref().expect("a running process").id();
        // The shell's builtin `kill`: no unsafe code, no extra crate.
        let status = Command::new("sh")
            .args(["-c", "kill -TERM \"$0\"", &pid.to_string()])
            .status()
            .expect("run sh");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits (polling, bounded by `within`) for the process to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lines written to stdout so far: the JSON access log.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Lines written to stderr so far: diagnostics.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fails when any secret given to this process appears in any line of its output.
    pub fn assert_no_secret_in_logs(&self) {
        for (stream, lines) in [
            ("stdout", self.stdout_lines()),
            ("stderr", self.stderr_lines()),
        ] {
            for line in &lines {
                for secret in &self.secrets {
                    assert!(
                        !line.contains(secret.as_str()),
                        "a secret appears on the sidecar's {stream}: {line}"
                    );
                }
            }
        }
    }

    /// Kills the process and waits for its output to be fully collected.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Stops the process, then checks its whole output for secrets.
    pub fn finish(mut self) {
        self.stop();
        self.assert_no_secret_in_logs();
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            self.assert_no_secret_in_logs();
        }
    }
}

fn collect_lines(
    stream: impl Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    })
}

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, drop the socket).
/// A free port on 127.0.0.1 that no other caller in this test process has been given:
/// the OS may hand out the same ephemeral port twice once the probing listener is closed,
/// and two listeners of one config on one port fail the config check (seen in CI).
pub fn free_port() -> SocketAddr {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    // Bounded: the ephemeral range has thousands of ports, so a fresh one comes quickly.
    for _ in 0..1000 {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1");
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&addr.port()) {
            given.push(addr.port());
            return addr;
        }
    }
    panic!("no port on 127.0.0.1 that was not given out already");
}

/// The values of `value = "…"` and `key = "…"` in a config text (valid or not): the inline
/// secrets and the webhook keys, which are credentials too.
fn secrets_in(toml: &str) -> Vec<String> {
    let mut found = Vec::new();
    for marker in ["value", "key"] {
        let mut rest = toml;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let after = rest.trim_start();
            let Some(after) = after.strip_prefix('=') else {
                continue;
            };
            let Some(quoted) = after.trim_start().strip_prefix('"') else {
                continue;
            };
            if let Some(end) = quoted.find('"') {
                if end > 0 {
                    found.push(quoted[..end].to_owned());
                }
            }
        }
    }
    found
}

/// A one-shot `GET` over a new connection (`Connection: close`).
async fn admin_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| "no answer within 5 s".to_owned())?
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_in_valid_and_broken_texts() {
        let text = r#"secrets = [{ id = "a", value = "one" }, { id = "b", value="two" ]
            match.keys = [{ key = "wh_x", enabled = false }]
            public_key = 3"#;
        assert_eq!(secrets_in(text), ["one", "two", "wh_x"]);
    }

    #[test]
    fn chunked_admin_bodies_are_joined() {
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
