//! Test servers on 127.0.0.1, started by the test itself and stopped when dropped: moto (S3)
//! and fake-gcs-server (GCS), through `scripts/services/{s3,gcs}.sh`, which install them into
//! the shared Python venv on first use.
//!
//! Each server gets a free port and runs under its script's supervisor, which also stops it
//! when the test process is gone (a test killed by a timeout leaves nothing behind).

use std::{
    fmt::Write as _,
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// How long a server may take to answer after it was started (moto needs about a second, more
/// on a loaded machine).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Attempts at starting a server, each on a new free port (another process may take the port
/// between our probe and the server's bind).
const START_ATTEMPTS: usize = 3;

/// The scripts directory of the repository.
pub fn services_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services")
}

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// moto, S3 API.
    S3,
    /// fake-gcs-server, GCS JSON API.
    Gcs,
}

impl Kind {
    fn script(self) -> &'static str {
        match self {
            Self::S3 => "s3.sh",
            Self::Gcs => "gcs.sh",
        }
    }

    fn ready_path(self) -> &'static str {
        match self {
            Self::S3 => "/moto-api/",
            Self::Gcs => "/_internal/healthcheck",
        }
    }
}

/// Runs `<script> install` once per test process; a failure fails every test that needs it,
/// loudly (no silent skip).
fn install(kind: Kind) {
    static S3: OnceLock<Result<(), String>> = OnceLock::new();
    static GCS: OnceLock<Result<(), String>> = OnceLock::new();
    let once = match kind {
        Kind::S3 => &S3,
        Kind::Gcs => &GCS,
    };
    let result = once.get_or_init(|| {
        let output = Command::new("bash")
            .arg(services_dir().join(kind.script()))
            .arg("install")
            .output()
            .map_err(|error| format!("run {}: {error}", kind.script()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} install failed ({}): {}",
                kind.script(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(error) = result {
        panic!("cannot install the {kind:?} test server: {error}");
    }
}

/// A free TCP port on 127.0.0.1 (free when probed).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

/// A running test server; stopped on drop.
pub struct Server {
    kind: Kind,
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl Server {
    /// Starts a server of `kind` on a free port and waits until it answers.
    pub fn start(kind: Kind) -> Self {
        Self::start_with_env(kind, &[])
    }

    /// Starts a server of `kind` with extra environment variables (moto's
    /// `INITIAL_NO_AUTH_ACTION_COUNT`, say).
    pub fn start_with_env(kind: Kind, env: &[(&str, &str)]) -> Self {
        install(kind);
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = Self {
                kind,
                port: free_port(),
                env: env
                    .iter()
                    .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                    .collect(),
                child: None,
                log: tempfile::NamedTempFile::new().expect("a log file"),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!("the {kind:?} test server did not start: {last_error}");
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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

    /// Starts the server again on the same port (empty: both servers keep data in memory).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(error) if Instant::now() > deadline => {
                    panic!("the {:?} test server did not restart: {error}", self.kind)
                }
                // The old socket may linger for a moment.
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.log.reopen().map_err(|error| error.to_string())?;
        let log_err = log.try_clone().map_err(|error| error.to_string())?;
        let child = Command::new("bash")
            .arg(services_dir().join(self.kind.script()))
            .arg("run")
            .arg(self.port.to_string())
            .arg(std::process::id().to_string())
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|error| format!("spawn {}: {error}", self.kind.script()))?;
        self.child = Some(child);
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
                return Err(format!(
                    "{:?} server exited ({status}): {}",
                    self.kind,
                    self.log_text()
                ));
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "{:?} server did not answer within {READY_WITHIN:?}: {}",
                    self.kind,
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Answers HTTP on its ready path; with TLS (which [`http`] does not speak), accepts
    /// connections.
    fn ready(&self) -> bool {
        if self.serves_tls() {
            return TcpStream::connect(("127.0.0.1", self.port)).is_ok();
        }
        matches!(
            http(self.port, "GET", self.kind.ready_path(), &[], b""),
            Ok((200, _))
        )
    }

    /// Whether the server was started with a TLS certificate.
    pub fn serves_tls(&self) -> bool {
        self.env.iter().any(|(key, _)| key == "KOLLECT_S3_TLS_CERT")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Creates `bucket` (S3: `PUT /bucket`; GCS: the JSON API's bucket insert).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = match self.kind {
            Kind::S3 => http(self.port, "PUT", &format!("/{bucket}"), &[], b""),
            Kind::Gcs => http(
                self.port,
                "POST",
                "/storage/v1/b?project=test",
                &[("Content-Type", "application/json")],
                format!("{{\"name\":\"{bucket}\"}}").as_bytes(),
            ),
        }
        .expect("the test server answers");
        assert_eq!(
            status,
            200,
            "create bucket {bucket}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP/1.0 request to 127.0.0.1:`port`; the status and body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map_or(response.len(), |at| at + 4);
    let status = String::from_utf8_lossy(&response[..head_end])
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, response[head_end..].to_vec()))
}
