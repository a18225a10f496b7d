//! The paced Goose attack against the fake Zep and the reference assistant over loopback. Goose's
//! state is process-global, so these tests take turns through one lock.

mod pacer;
mod run;

/// One Goose attack at a time in this process.
pub static GOOSE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
