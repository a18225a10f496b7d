//! Ctrl-C for the gate: the first one stops the current stage and lets the gate write what
//! completed (a report marked interrupted, never PROMOTE); a second one exits at once.
//!
//! One handler for the whole process: it also trips Goose's killswitch, which the load engine's
//! pacer watches, so a Ctrl-C during the load ends it like `rollgate load`'s own. (Goose then
//! fails to install its own handler, which it tolerates.) Not for: `rollgate load`, which keeps
//! Goose's handler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::Duration;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the handler (once per process) and clears an earlier interruption.
pub fn install() {
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::AcqRel) {
                eprintln!("rollgate gate: second Ctrl-C, exiting now");
                std::process::exit(130);
            }
            eprintln!(
                "rollgate gate: Ctrl-C: stopping; the report of what completed is being written \
                 (Ctrl-C again to exit at once)"
            );
            goose::trigger_killswitch("SIGINT received");
        });
        if let Err(err) = installed {
            tracing::warn!("cannot install the Ctrl-C handler: {err}");
        }
    });
    INTERRUPTED.store(false, Ordering::Release);
}

/// Whether Ctrl-C was pressed since [`install`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Acquire)
}

/// Returns once Ctrl-C is pressed (polled every 100 ms).
pub async fn wait() {
    while !interrupted() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
