//! Listening addresses: rollgate's servers bind loopback unless the user explicitly allows otherwise,
//! so that an example or a test never exposes a fault-injecting server to a network.

use std::net::SocketAddr;

use thiserror::Error;

/// Why a listening address was refused or could not be bound.
#[derive(Debug, Error)]
pub enum ListenError {
    /// The address is not loopback and `--allow-remote` was not given.
    #[error("refusing to listen on {addr}: it is not a loopback address (use 127.0.0.1:PORT, or pass --allow-remote)")]
    NotLoopback {
        /// The requested address.
        addr: SocketAddr,
    },
    /// Binding failed (port in use, permission denied...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Binds a tokio listener on `addr`, refusing non-loopback addresses unless `allow_remote`.
pub async fn bind(
    addr: SocketAddr,
    allow_remote: bool,
) -> Result<tokio::net::TcpListener, ListenError> {
    if !allow_remote && !addr.ip().is_loopback() {
        return Err(ListenError::NotLoopback { addr });
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Bind { addr, source })
}
