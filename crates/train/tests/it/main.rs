//! Integration tests of `pdnsrep-train`, one binary, files by subsystem.

#![allow(clippy::unwrap_used)]

mod harness;
mod loader;
mod models;
mod predictions;
mod resume;
