//! `SecantusDB` on 127.0.0.1, started by the test itself through `scripts/services/mongodb.sh`
//! (which installs it into the shared Python venv on first use) and stopped when dropped.
//!
//! Each server gets a free port, its own temporary storage directory when it must survive a
//! restart (users for the authentication tests), and runs under the script's supervisor, which
//! also stops it when the test process is gone.

use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use mongodb::bson::{RawDocument, rawdoc};

/// How long `SecantusDB` may take to answer after it was started (about a second; more on a
/// loaded machine).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Attempts at starting a server, each on a new free port (another process may take the port
/// between our probe and the server's bind).
const START_ATTEMPTS: usize = 3;

/// The scripts directory of the repository.
pub fn services_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services")
}

/// Runs `mongodb.sh install` once per test process; a failure fails every test that needs it,
/// loudly, with the hint to install it by hand (no silent skip).
fn install() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        let output = Command::new("bash")
            .arg(services_dir().join("mongodb.sh"))
            .arg("install")
            .output()
            .map_err(|error| format!("run mongodb.sh: {error}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "mongodb.sh install failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(error) = result {
        panic!(
            "cannot install the MongoDB test server (SecantusDB): {error}\nInstall it by hand: \
             bash scripts/services/python-venv.sh 'secantusdb==0.7.0b3'"
        );
    }
}

/// A free TCP port on 127.0.0.1 (free when probed).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

/// How to run the server.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep data in this directory (default: in memory).
    pub storage: Option<PathBuf>,
    /// Require authentication.
    pub auth: bool,
    /// Serve TLS with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A running `SecantusDB`; stopped on drop.
pub struct Server {
    port: u16,
    options: Options,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl Server {
    /// Starts an in-memory server without authentication or TLS.
    pub fn start() -> Self {
        Self::start_with(&Options::default())
    }

    /// Starts a server with `options` on a free port and waits until it answers.
    pub fn start_with(options: &Options) -> Self {
        install();
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = Self {
                port: free_port(),
                options: options.clone(),
                child: None,
                log: tempfile::NamedTempFile::new().expect("a log file"),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!("SecantusDB did not start: {last_error}");
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mongodb://127.0.0.1:<port>/?directConnection=true` plus `extra` options (`&a=b`).
    pub fn uri(&self, extra: &str) -> String {
        format!(
            "mongodb://127.0.0.1:{}/?directConnection=true{extra}",
            self.port
        )
    }

    /// `mongodb://<user>:<password>@127.0.0.1:<port>/?directConnection=true&authSource=admin`,
    /// with a 500 ms heartbeat: after a refused login the driver marks the server unknown until
    /// its next heartbeat (10 s by default), which would only slow the test down.
    pub fn uri_as(&self, user: &str, password: &str) -> String {
        format!(
            "mongodb://{user}:{password}@127.0.0.1:{}/?directConnection=true&authSource=admin&heartbeatFrequencyMS=500",
            self.port
        )
    }

    /// Stops the server (SIGTERM to its supervisor, which stops the server and waits for it).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.log.reopen().map_err(|error| error.to_string())?;
        let log_err = log.try_clone().map_err(|error| error.to_string())?;
        let mut command = Command::new("bash");
        command
            .arg(services_dir().join("mongodb.sh"))
            .arg("run")
            .arg(self.port.to_string())
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(storage) = &self.options.storage {
            command.env("KOLLECT_MONGODB_STORAGE", storage);
        }
        if self.options.auth {
            command.env("KOLLECT_MONGODB_AUTH", "1");
        }
        if let Some((cert, key)) = &self.options.tls {
            command
                .env("KOLLECT_MONGODB_TLS_CERT", cert)
                .env("KOLLECT_MONGODB_TLS_KEY", key);
        }
        self.child = Some(
            command
                .spawn()
                .map_err(|error| format!("spawn mongodb.sh: {error}"))?,
        );
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if self.ready() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(format!("SecantusDB exited ({status}): {}", self.log_text()));
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "SecantusDB did not answer within {READY_WITHIN:?}: {}",
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Answers `hello`; with TLS (which [`hello`] does not speak), accepts connections.
    fn ready(&self) -> bool {
        if self.options.tls.is_some() {
            return TcpStream::connect(("127.0.0.1", self.port)).is_ok();
        }
        hello(self.port).unwrap_or(false)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends one `OP_MSG {hello: 1, $db: "admin"}` and checks the reply says `ok: 1`.
fn hello(port: u16) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let body = rawdoc! { "hello": 1, "$db": "admin" };
    let mut message = Vec::new();
    let length = i32::try_from(16 + 4 + 1 + body.as_bytes().len()).unwrap_or(i32::MAX);
    for field in [length, 1, 0, 2013] {
        message.extend_from_slice(&field.to_le_bytes());
    }
    message.extend_from_slice(&0_u32.to_le_bytes());
    message.push(0);
    message.extend_from_slice(body.as_bytes());
    stream.write_all(&message)?;
    let mut header = [0_u8; 16];
    stream.read_exact(&mut header)?;
    let total = usize::try_from(i32::from_le_bytes([
        header[0], header[1], header[2], header[3],
    ]))
    .unwrap_or(0);
    let mut rest = vec![0_u8; total.saturating_sub(16)];
    stream.read_exact(&mut rest)?;
    let ok = rest
        .get(5..)
        .and_then(|bytes| RawDocument::from_bytes(bytes).ok())
        .and_then(|reply| reply.get_f64("ok").ok());
    Ok(ok == Some(1.0))
}
