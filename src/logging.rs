//! Diagnostics to stderr through `tracing`; stdout stays for machine-readable output
//! (the first line of a server subcommand is its address).

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber. `RUST_LOG` wins over the verbosity flag when it is set.
/// `quiet` (the gate, whose embedded servers log every injected fault) shows only errors unless
/// `-v` is given.
pub fn init(verbose: u8, quiet: bool) {
    let default = match verbose {
        0 if quiet => "error",
        0 => "rollgate=info,warn",
        1 => "rollgate=debug,info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second init (tests call entry points repeatedly) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
