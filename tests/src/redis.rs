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
//!
//! Beside it, [`RedisSentinel`] (a master, a replica and a sentinel watching them) and
//! [`RedisCluster`] (three masters sharing the 16384 slots), built from the same servers.
//!
//! Every server runs under a small `sh` wrapper that `kill -9`s it when the wrapper's
//! standard input closes: when the handle is dropped, and also when the test process
//! itself ends — so a server kept for a whole test binary ([`RedisCluster::shared`]) never
//! outlives it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start (or restart) may take before the test fails.
const START_WITHIN: Duration = Duration::from_secs(10);
/// Attempts when the port picked was taken before the server bound it.
const PORT_ATTEMPTS: usize = 5;

/// Runs `redis-server "$@"` and kills it (`-9`) when this script's stdin closes; exits
/// when the server does. Background jobs get /dev/null as stdin, hence fd 3.
const WRAPPER: &str = r#"exec 3<&0
redis-server "$@" 3<&- &
pid=$!
(read -r _ <&3; kill -9 "$pid" 2>/dev/null) &
wait "$pid""#;

/// What kind of process a [`RedisServer`] is.
#[derive(Debug, Clone)]
enum Role {
    /// A data server (possibly a replica, by its extra arguments).
    Server,
    /// A sentinel watching `master` under `name`.
    Sentinel {
        name: String,
        master: SocketAddr,
        quorum: u32,
    },
    /// A cluster node, with its cluster bus port.
    ClusterNode { bus: u16 },
}

/// Options for [`RedisServer`].
#[derive(Debug, Clone)]
pub struct RedisServerBuilder {
    persistent: bool,
    appendfsync: &'static str,
    args: Vec<String>,
    role: Role,
}

impl Default for RedisServerBuilder {
    fn default() -> Self {
        Self {
            persistent: false,
            appendfsync: "always",
            args: Vec::new(),
            role: Role::Server,
        }
    }
}

impl RedisServerBuilder {
    /// AOF on with `appendfsync always`: every acknowledged write survives `kill -9`.
    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    /// AOF on with this `appendfsync` policy (`always`, `everysec`, `no`).
    pub fn appendfsync(mut self, policy: &'static str) -> Self {
        self.persistent = true;
        self.appendfsync = policy;
        self
    }

    /// More `redis-server` arguments, e.g. `["--replicaof", "127.0.0.1", "6379"]`.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// A sentinel (`redis-server sentinel.conf --sentinel`) monitoring `master` as `name`
    /// with this quorum, quick to act: down after 1 s, failover timeout 5 s.
    fn sentinel(mut self, name: &str, master: SocketAddr, quorum: u32) -> Self {
        self.role = Role::Sentinel {
            name: name.to_owned(),
            master,
            quorum,
        };
        self
    }

    fn cluster_node(mut self) -> Self {
        self.role = Role::ClusterNode { bus: 0 };
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
            let role = match &self.role {
                Role::ClusterNode { .. } => Role::ClusterNode {
                    bus: free_port().port(),
                },
                other => other.clone(),
            };
            let mut server = RedisServer {
                addr,
                persistent: self.persistent,
                appendfsync: self.appendfsync,
                args: self.args.clone(),
                role,
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
    appendfsync: &'static str,
    args: Vec<String>,
    role: Role,
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
            // Closing the wrapper's stdin makes it `kill -9` the server and wait for it.
            drop(child.stdin.take());
            let deadline = Instant::now() + START_WITHIN;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
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

    /// Reads one `field:value` of `INFO` (e.g. `role`, `master_link_status`).
    pub fn info_field(&self, field: &str) -> Option<String> {
        let info = self.command("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let mut command = Command::new("sh");
        command.arg("-c").arg(WRAPPER).arg("redis-server");
        if let Role::Sentinel {
            name,
            master,
            quorum,
        } = &self.role
        {
            // A sentinel rewrites its configuration file: one of its own, in its directory.
            let conf = self.dir.path().join("sentinel.conf");
            if !conf.exists() {
                let text = format!(
                    "sentinel monitor {name} {} {} {quorum}\n\
                     sentinel down-after-milliseconds {name} 1000\n\
                     sentinel failover-timeout {name} 5000\n\
                     sentinel parallel-syncs {name} 1\n",
                    master.ip(),
                    master.port()
                );
                std::fs::write(&conf, text).map_err(|e| format!("writing {conf:?}: {e}"))?;
            }
            command.arg(&conf).arg("--sentinel");
        }
        command
            .arg("--port")
            .arg(self.addr.port().to_string())
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log);
        if !matches!(self.role, Role::Sentinel { .. }) {
            command.args(["--save", ""]);
            if self.persistent {
                command.args(["--appendonly", "yes", "--appendfsync", self.appendfsync]);
            } else {
                command.args(["--appendonly", "no"]);
            }
        }
        if let Role::ClusterNode { bus } = self.role {
            command
                .args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(self.dir.path().join("nodes.conf"))
                .args(["--cluster-node-timeout", "5000", "--cluster-port"])
                .arg(bus.to_string());
        }
        command.args(&self.args);
        let child = command
            .stdin(Stdio::piped())
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

/// Polls `done` every 50 ms until it holds; panics with `what` after `within`.
fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The master name [`RedisSentinel`] monitors.
pub const SENTINEL_MASTER_NAME: &str = "hookguard-test";

/// A master, one replica of it, and one sentinel (quorum 1) watching them: enough for a
/// real failover. The sentinel marks the master down after 1 s without an answer.
///
/// ```no_run
/// let mut sentinel = hookguard_tests::RedisSentinel::start();
/// let (name, sentinels) = (sentinel.master_name(), sentinel.sentinel_addrs());
/// let old = sentinel.master_addr();
/// sentinel.kill9_master();
/// let new = sentinel.wait_for_failover(old); // the replica, promoted
/// ```
#[derive(Debug)]
pub struct RedisSentinel {
    servers: Vec<RedisServer>,
    sentinels: Vec<RedisServer>,
}

impl RedisSentinel {
    /// Starts the master, the replica (waits until it is in sync) and the sentinel (waits
    /// until it knows the replica, so that it can fail over to it).
    pub fn start() -> RedisSentinel {
        // No 5 s pause before a replica's first sync (7.0's default); either server may be
        // the master after a failover.
        let quick_sync = ["--repl-diskless-sync-delay", "0"];
        let master = RedisServer::builder().args(quick_sync).start();
        let replica = RedisServer::builder()
            .args(quick_sync)
            .args([
                "--replicaof",
                "127.0.0.1",
                &master.addr().port().to_string(),
            ])
            .start();
        wait_until("the replica syncs", START_WITHIN, || {
            replica.info_field("master_link_status").as_deref() == Some("up")
        });
        let sentinel = RedisServer::builder()
            .sentinel(SENTINEL_MASTER_NAME, master.addr(), 1)
            .start();
        let this = RedisSentinel {
            servers: vec![master, replica],
            sentinels: vec![sentinel],
        };
        wait_until("the sentinel sees the replica", START_WITHIN, || {
            this.sentinels.iter().all(|s| {
                let reply = s.command(&format!("SENTINEL REPLICAS {SENTINEL_MASTER_NAME}"));
                reply.contains(&this.servers[1].addr().port().to_string())
                    && !reply.contains("disconnected")
            })
        });
        this
    }

    /// One setup for the whole test binary (never failed over: tests that fail over start
    /// their own); its servers end with the test process.
    pub fn shared() -> &'static RedisSentinel {
        static SHARED: std::sync::OnceLock<RedisSentinel> = std::sync::OnceLock::new();
        SHARED.get_or_init(RedisSentinel::start)
    }

    /// The name the sentinel knows the master by.
    pub fn master_name(&self) -> &'static str {
        SENTINEL_MASTER_NAME
    }

    /// The sentinels' addresses, `127.0.0.1:PORT`.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| s.addr().to_string())
            .collect()
    }

    /// Where the sentinel says the master is now.
    pub fn master_addr(&self) -> SocketAddr {
        let reply = self.sentinels[0].command(&format!(
            "SENTINEL GET-MASTER-ADDR-BY-NAME {SENTINEL_MASTER_NAME}"
        ));
        // *2 $9 127.0.0.1 $5 PORT
        let parts: Vec<&str> = reply.split("\r\n").filter(|p| !p.is_empty()).collect();
        let (ip, port) = (parts.get(2), parts.get(4));
        match (ip, port.and_then(|p| p.parse::<u16>().ok())) {
            (Some(ip), Some(port)) => SocketAddr::new(ip.parse().expect("an ip"), port),
            _ => panic!("the sentinel did not name the master: {reply:?}"),
        }
    }

    /// The data server at `addr` (the master or the replica).
    pub fn server(&self, addr: SocketAddr) -> &RedisServer {
        self.servers
            .iter()
            .find(|s| s.addr() == addr)
            .expect("a server of this setup")
    }

    /// Waits (at most 10 s) until the replica has everything the master wrote (its
    /// `slave_repl_offset` reaches the master's `master_repl_offset`). Replication is
    /// asynchronous: before a failover, this makes what the new master holds known.
    pub fn wait_for_replication(&self) {
        let master = self.master_addr();
        let master = self.server(master);
        let replica = self
            .servers
            .iter()
            .find(|s| s.addr() != master.addr())
            .expect("a replica");
        let offset = master.info_field("master_repl_offset");
        wait_until("the replica catches up", START_WITHIN, || {
            replica.info_field("slave_repl_offset") == offset
        });
    }

    /// `kill -9` of the server that is master now.
    pub fn kill9_master(&mut self) {
        let addr = self.master_addr();
        if let Some(server) = self.servers.iter_mut().find(|s| s.addr() == addr) {
            server.kill9();
        }
    }

    /// `SENTINEL FAILOVER`: promotes the replica without waiting for a failure.
    pub fn failover(&self) -> String {
        self.sentinels[0].command(&format!("SENTINEL FAILOVER {SENTINEL_MASTER_NAME}"))
    }

    /// Waits (at most 20 s) until the sentinel names a master other than `old` and that
    /// server says `role:master`; returns it.
    pub fn wait_for_failover(&self, old: SocketAddr) -> SocketAddr {
        let mut new = old;
        wait_until("the sentinel fails over", Duration::from_secs(20), || {
            new = self.master_addr();
            new != old && self.server(new).info_field("role").as_deref() == Some("master")
        });
        new
    }
}

/// The number of masters of a [`RedisCluster`].
const CLUSTER_MASTERS: usize = 3;

/// A Redis Cluster of three masters (no replicas) on free ports, the slots split evenly
/// (`CLUSTER ADDSLOTSRANGE` + `CLUSTER MEET`, no `redis-cli`). Starting one takes about a
/// second; [`RedisCluster::shared`] keeps one for a whole test binary.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the nodes, assigns the slots, introduces the nodes, and waits until every
    /// node says `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..CLUSTER_MASTERS)
            .map(|_| RedisServer::builder().cluster_node().start())
            .collect();
        let per_node = 16384 / CLUSTER_MASTERS;
        for (i, node) in nodes.iter().enumerate() {
            let first = i * per_node;
            let last = if i + 1 == CLUSTER_MASTERS {
                16383
            } else {
                first + per_node - 1
            };
            let reply = node.command(&format!("CLUSTER ADDSLOTSRANGE {first} {last}"));
            assert!(reply.starts_with("+OK"), "CLUSTER ADDSLOTSRANGE: {reply}");
        }
        for node in &nodes[1..] {
            let Role::ClusterNode { bus } = node.role else {
                unreachable!("cluster nodes are started as such")
            };
            let reply = nodes[0].command(&format!(
                "CLUSTER MEET 127.0.0.1 {} {bus}",
                node.addr().port()
            ));
            assert!(reply.starts_with("+OK"), "CLUSTER MEET: {reply}");
        }
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        cluster
    }

    fn wait_until_ok(&self) {
        wait_until("the cluster forms", Duration::from_secs(20), || {
            self.nodes.iter().all(|n| {
                let info = n.command("CLUSTER INFO");
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{CLUSTER_MASTERS}"))
            })
        });
    }

    /// `kill -9` of every node.
    pub fn kill9_all(&mut self) {
        for node in &mut self.nodes {
            node.kill9();
        }
    }

    /// Starts every node again on its ports and directory (each node's `nodes.conf` keeps
    /// its slots and peers, the data is gone) and waits until the cluster is `ok`.
    pub fn restart_all(&mut self) {
        for node in &mut self.nodes {
            node.restart();
        }
        self.wait_until_ok();
    }

    /// One cluster for the whole test binary, started on first use; its servers end with
    /// the test process. Tests sharing it keep apart by key prefix.
    pub fn shared() -> &'static RedisCluster {
        static SHARED: std::sync::OnceLock<RedisCluster> = std::sync::OnceLock::new();
        SHARED.get_or_init(RedisCluster::start)
    }

    /// The nodes' addresses, `127.0.0.1:PORT`.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr().to_string()).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}
