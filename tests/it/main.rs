//! End-to-end tests of the `pdnsrep` binary, one module per subsystem.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod harness;
mod ingest;
mod kill;
mod paper;
mod pipeline;
mod registry;
mod s3;
mod serve;
mod sweep;
mod train;
