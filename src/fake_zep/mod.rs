//! A fake Zep: a server that speaks Zep's HTTP API (v3 threads and v2 sessions under `/api/v2`, v4
//! under `/api/v4`), keeps users, threads and messages in memory, injects the faults a memory layer
//! must survive, and records what it received.
//!
//! Two parts: a wiremock server renders every HTTP answer (Zep's routes from the store, the HTTP
//! faults, the admin API), and a small TCP front ([`front`]) owns the client's socket, so that it can
//! add latency, dribble, reset, hang or garble where wiremock cannot. Faults come from a TOML
//! [`Program`]; the admin API under `/__rollgate/` swaps it at run time and serves the journal.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rollgate::fake_zep::{Config, FakeZep};
//! let zep = FakeZep::start(Config::default()).await?;
//! println!("Zep on {}", zep.url());
//! zep.admin().set_faults("[[rule]]\nfault = { kind = \"status\", status = 503 }\n").await?;
//! zep.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
mod backend;
pub mod faults;
mod front;
mod http1;
pub mod journal;
mod metrics;
pub mod program;
pub mod routes;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use admin::{AdminClient, AdminError};
pub use program::{Program, ProgramError};

use faults::Engine;
use journal::Journal;
use metrics::Metrics;
use store::Store;

/// The API key a fake Zep accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "rollgate-dev-key";
/// Where the admin API lives.
pub const INTERNAL_PREFIX: &str = "/__rollgate";
/// Internal header from the front to the backend carrying a decided HTTP fault (JSON).
const FAULT_HEADER: &str = "x-rollgate-fault";
/// Internal header from the backend to the front: messages stored by the request.
const STORED_HEADER: &str = "x-rollgate-stored";
/// Internal header from the backend to the front: answer replayed for a known `Idempotency-Key`.
const REPLAYED_HEADER: &str = "x-rollgate-replayed";

/// Body of the 401 sent for a wrong API key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AuthBody {
    /// `{"message": "unauthorized"}` as JSON (Zep Cloud).
    Json,
    /// `unauthorized\n` as text/plain (Zep Community Edition).
    Text,
}

/// How to run a fake Zep.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// Allow a non-loopback `listen`.
    pub allow_remote: bool,
    /// Fault program loaded at start and by `POST /__rollgate/reset`.
    pub program: Program,
    /// Accepted API keys.
    pub api_keys: Vec<String>,
    /// Body of a 401 for a wrong key.
    pub auth_body: AuthBody,
    /// Longest message content accepted, in characters.
    pub max_message_chars: usize,
    /// Journal ring size.
    pub journal_size: usize,
    /// Seed for programs without their own, and for generated ids.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_remote: false,
            program: Program::default(),
            api_keys: vec![DEFAULT_API_KEY.to_string()],
            auth_body: AuthBody::Json,
            max_message_chars: 2500,
            journal_size: 100_000,
            seed: 0,
        }
    }
}

/// Why a fake Zep could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The listening address was refused or is taken.
    #[error(transparent)]
    Listen(#[from] crate::net::ListenError),
    /// The internal wiremock server could not bind a loopback port.
    #[error("cannot start the internal wiremock server: {0}")]
    Backend(std::io::Error),
    /// No API key was configured.
    #[error("no API key configured: give at least one --api-key")]
    NoApiKey,
}

/// State shared by the front and the backend.
struct Shared {
    config: Config,
    started: Instant,
    engine: Mutex<Engine>,
    store: Mutex<Store>,
    journal: Mutex<Journal>,
    metrics: Metrics,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (every update is atomic
/// with respect to the data, so the state stays consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn lock_engine(&self) -> MutexGuard<'_, Engine> {
        lock(&self.engine)
    }

    fn lock_store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    fn lock_journal(&self) -> MutexGuard<'_, Journal> {
        lock(&self.journal)
    }

    fn load_program(&self, program: Program) {
        *self.lock_engine() = Engine::new(program, self.config.seed);
    }

    /// Startup program again, empty journal and store. Metrics stay monotonic.
    fn reset(&self) {
        self.load_program(self.config.program.clone());
        self.lock_journal().clear();
        *self.lock_store() = Store::new(self.config.max_message_chars, self.config.seed);
    }
}

/// A running fake Zep.
pub struct FakeZep {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    front: JoinHandle<()>,
    backend: wiremock::MockServer,
}

impl std::fmt::Debug for FakeZep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeZep").field("addr", &self.addr).finish()
    }
}

impl FakeZep {
    /// Binds the listening address, starts the backend, and serves until [`FakeZep::shutdown`].
    pub async fn start(config: Config) -> Result<FakeZep, StartError> {
        if config.api_keys.is_empty() {
            return Err(StartError::NoApiKey);
        }
        let listener = crate::net::bind(config.listen, config.allow_remote).await?;
        let addr = listener
            .local_addr()
            .map_err(|error| crate::net::ListenError::Bind {
                addr: config.listen,
                error,
            })?;
        let shared = Arc::new(Shared {
            engine: Mutex::new(Engine::new(config.program.clone(), config.seed)),
            store: Mutex::new(Store::new(config.max_message_chars, config.seed)),
            journal: Mutex::new(Journal::new(config.journal_size)),
            metrics: Metrics::new(),
            started: Instant::now(),
            config,
        });
        let backend = backend::start(shared.clone())
            .await
            .map_err(StartError::Backend)?;
        let (stop, stopped) = watch::channel(false);
        let front = tokio::spawn(front::serve(
            listener,
            shared.clone(),
            *backend.address(),
            stopped,
        ));
        Ok(FakeZep {
            addr,
            shared,
            stop,
            front,
            backend,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, `http://127.0.0.1:PORT` (Zep's API is under `/api/v2` and `/api/v4`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The first accepted API key.
    pub fn api_key(&self) -> &str {
        self.shared
            .config
            .api_keys
            .first()
            .map_or(DEFAULT_API_KEY, String::as_str)
    }

    /// A client for the admin API.
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(&self.url())
    }

    /// Stops accepting, drops open connections and stops the backend.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.front.await;
        drop(self.backend);
    }
}
