//! Three RabbitMQ nodes of this machine's `rabbitmq-server`, clustered, each
//! a process of its own with its own node name, ports, data and logs under
//! a temporary directory, and an Erlang cookie of their own (`HOME` points
//! at that directory). The system broker on 5672, its node `rabbit@...` and
//! its cookie are never touched. Dropping the cluster stops every node,
//! also when a test fails.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// AMQP port of the first node; the others follow. Distribution ports are
/// RabbitMQ's default, the AMQP port + 20000.
const FIRST_PORT: u16 = 5681;

pub struct Node {
    pub name: String,
    pub port: u16,
    server: Child,
}

pub struct Cluster {
    dir: PathBuf,
    pub nodes: Vec<Node>,
}

/// Where Debian keeps the scripts themselves: `/usr/sbin/rabbitmq-*` are
/// wrappers that switch to the `rabbitmq` user and its home (and cookie),
/// which would make these nodes share the system broker's cookie and files.
fn tool(name: &str) -> PathBuf {
    let debian = Path::new("/usr/lib/rabbitmq/bin").join(name);
    if debian.exists() {
        debian
    } else {
        PathBuf::from(name)
    }
}

impl Cluster {
    /// Starts `count` nodes and joins the others to the first.
    pub async fn start(count: u16) -> Self {
        let started = Instant::now();
        let dir =
            std::env::temp_dir().join(format!("herald-rabbit-cluster-{}", std::process::id()));
        prepare_dir(&dir);
        let mut cluster = Self {
            dir,
            nodes: Vec::new(),
        };
        for index in 0..count {
            let port = FIRST_PORT + index;
            assert_port_free(port).await;
            let node = cluster.spawn(index + 1, port);
            cluster.nodes.push(node);
        }
        for index in 0..cluster.nodes.len() {
            cluster.await_startup(index).await;
        }
        eprintln!("{count} RabbitMQ nodes up in {:?}", started.elapsed());
        for index in 1..cluster.nodes.len() {
            cluster.join(index).await;
        }
        eprintln!("clustered in {:?}", started.elapsed());
        cluster
    }

    /// The AMQP URLs of the nodes, in order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("amqp://guest:guest@127.0.0.1:{}/%2f", n.port))
            .collect()
    }

    fn spawn(&self, number: u16, port: u16) -> Node {
        let name = format!("rabbit-h{number}@localhost");
        let home = self.dir.join(format!("h{number}"));
        fs::create_dir_all(home.join("log")).unwrap();
        let config = home.join("rabbitmq.conf");
        // Loopback only, and the guest user may log in from there.
        fs::write(&config, format!("listeners.tcp.local = 127.0.0.1:{port}\n")).unwrap();
        let output = fs::File::create(home.join("server.out")).unwrap();
        let server = self
            .command(&tool("rabbitmq-server"))
            .env("RABBITMQ_NODENAME", &name)
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_MNESIA_BASE", home.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", home.join("log"))
            .env("RABBITMQ_CONFIG_FILE", &config)
            .env(
                "RABBITMQ_ADVANCED_CONFIG_FILE",
                home.join("advanced.config"),
            )
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            // Its own process group: the script runs the Erlang VM as a
            // child, and stopping the group stops both.
            .process_group(0)
            .spawn()
            .expect("rabbitmq-server starts (is RabbitMQ installed? deploy/services.sh)");
        Node { name, port, server }
    }

    /// A command with this cluster's environment: its cookie (through
    /// `HOME`) and no system `rabbitmq-env.conf`, whose node name is the
    /// system broker's.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("HOME", &self.dir)
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("rabbitmq-env.conf"));
        command
    }

    /// Runs `rabbitmqctl` (or another CLI tool) against node `index`.
    pub async fn try_ctl(
        &self,
        tool_name: &str,
        index: usize,
        args: &[&str],
    ) -> Result<String, String> {
        let mut command = tokio::process::Command::from(self.command(&tool(tool_name)));
        let output = command
            .arg("-n")
            .arg(&self.nodes[index].name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("the RabbitMQ CLI runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    pub async fn ctl(&self, index: usize, args: &[&str]) -> String {
        let node = &self.nodes[index].name;
        self.try_ctl("rabbitmqctl", index, args)
            .await
            .unwrap_or_else(|e| panic!("rabbitmqctl -n {node} {args:?} failed: {e}"))
    }

    /// Waits until node `index` has booted: its AMQP port answers (cheap to
    /// poll), then RabbitMQ says it is fully started.
    pub async fn await_startup(&self, index: usize) {
        let port = self.nodes[index].port;
        wait_until(
            Duration::from_secs(180),
            "a RabbitMQ node to listen",
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            },
        )
        .await;
        self.ctl(index, &["await_startup", "--timeout", "120"])
            .await;
    }

    async fn join(&self, index: usize) {
        let first = self.nodes[0].name.clone();
        self.ctl(index, &["stop_app"]).await;
        self.ctl(index, &["join_cluster", &first]).await;
        self.ctl(index, &["start_app"]).await;
    }

    /// Nodes the cluster sees running, asked of node `index`.
    pub async fn running_nodes(&self, index: usize) -> Vec<String> {
        let status = self
            .ctl(index, &["cluster_status", "--formatter", "json"])
            .await;
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        status["running_nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until stopping node `index` would leave every quorum queue a
    /// majority: the node that was stopped before is back and its queue
    /// members are online again.
    pub async fn wait_until_not_quorum_critical(&self, index: usize) {
        wait_until(
            Duration::from_secs(120),
            "quorum queues to recover",
            || async move {
                self.try_ctl(
                    "rabbitmq-queues",
                    index,
                    &["check_if_node_is_quorum_critical"],
                )
                .await
                .is_ok()
            },
        )
        .await;
    }

    /// The queues whose names start with `prefix`, as `name (type)`, and
    /// their members (quorum queues only have any).
    pub async fn queue_members(&self, index: usize, prefix: &str) -> Vec<(String, Vec<String>)> {
        let listed = self
            .ctl(
                index,
                &[
                    "list_queues",
                    "name",
                    "type",
                    "members",
                    "--formatter",
                    "json",
                ],
            )
            .await;
        let queues: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
        queues
            .iter()
            .filter(|q| q["name"].as_str().unwrap().starts_with(prefix))
            .map(|q| {
                let members = q["members"].as_array().cloned().unwrap_or_default();
                (
                    format!(
                        "{} ({})",
                        q["name"].as_str().unwrap(),
                        q["type"].as_str().unwrap()
                    ),
                    members
                        .iter()
                        .map(|m| m.as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect()
    }

    /// Kills node `index` outright, as a crash or a power cut would.
    pub fn kill(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        signal_group(&node.server, "KILL");
        node.server.wait().unwrap();
    }

    /// Stops every node that still runs: SIGTERM (RabbitMQ shuts down
    /// cleanly on it), then SIGKILL for any node not gone within 30 s.
    fn stop_all(&mut self) {
        for node in &self.nodes {
            signal_group(&node.server, "TERM");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &mut self.nodes {
            while node.server.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if node.server.try_wait().unwrap().is_none() {
                signal_group(&node.server, "KILL");
                let _ = node.server.wait();
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_all();
        if std::thread::panicking() {
            eprintln!("RabbitMQ nodes' logs kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Sends `signal` to the process group the node's script leads (only
/// processes this test started are in it).
fn signal_group(server: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{}", server.id())])
        .stderr(Stdio::null())
        .status();
}

/// A fresh directory with the cookie (owner-only, or Erlang refuses it),
/// no plugins (so no management listener), and an empty env file.
fn prepare_dir(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    let cookie = dir.join(".erlang.cookie");
    fs::write(&cookie, "HERALDCLUSTERTESTCOOKIE").unwrap();
    fs::set_permissions(&cookie, fs::Permissions::from_mode(0o400)).unwrap();
    fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
    fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
}

async fn assert_port_free(port: u16) {
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "port {port} is taken: by a node an earlier run left behind? (a beam.smp with -sname rabbit-h<n>@localhost)"
    );
}

/// Polls `condition` every 200 ms until it holds, failing after `within`.
async fn wait_until<F, Fut>(within: Duration, what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
