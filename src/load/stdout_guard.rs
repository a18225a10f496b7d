//! Keeps Goose's one unconditional `println!` ("All 100 users launched.") off stdout, which
//! rollgate keeps for machine-readable output (`gate --json`, the run directory's path).
//!
//! While a [`StdoutToStderr`] lives, file descriptor 1 points at stderr; dropping it restores
//! the original stdout. Process-wide, so only the load engine's pacer uses it, around the Goose
//! attack, where nothing of rollgate's own writes to stdout. Not for anything else.

use std::io::Write;

/// Redirects fd 1 to fd 2 until dropped (a no-op where `dup` fails).
pub struct StdoutToStderr {
    saved: Option<i32>,
}

impl StdoutToStderr {
    /// Flushes stdout, then points fd 1 at stderr.
    pub fn new() -> StdoutToStderr {
        let _ = std::io::stdout().flush();
        // SAFETY: dup/dup2 on the process's own standard descriptors; the saved descriptor is
        // owned by this guard and closed exactly once, in drop.
        let saved = unsafe {
            let saved = libc::dup(1);
            if saved >= 0 && libc::dup2(2, 1) < 0 {
                libc::close(saved);
                -1
            } else {
                saved
            }
        };
        StdoutToStderr {
            saved: (saved >= 0).then_some(saved),
        }
    }
}

impl Default for StdoutToStderr {
    fn default() -> Self {
        StdoutToStderr::new()
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        if let Some(saved) = self.saved.take() {
            // SAFETY: `saved` is the descriptor dup'ed in `new`, still open and owned here.
            unsafe {
                libc::dup2(saved, 1);
                libc::close(saved);
            }
        }
    }
}
