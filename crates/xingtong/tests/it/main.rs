//! The `xingtong` binary end to end: real processes, real sockets.

mod crash;
mod lifecycle;
mod server;
