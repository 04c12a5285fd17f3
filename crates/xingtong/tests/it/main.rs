//! The `xingtong` binary end to end: real processes, real sockets.

mod admin;
mod browser;
mod console;
mod console_account;
mod crash;
mod data_safety;
mod demo;
mod lifecycle;
mod payments;
mod protocol;
mod qr;
mod readme;
mod server;
mod terminal;
