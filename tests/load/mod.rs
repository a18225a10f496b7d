//! The paced Goose attack against the fake Zep over loopback. Goose's state is process-global, so
//! these tests take turns through one lock.

mod pacer;
