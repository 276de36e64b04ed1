//! The benchmark scenarios, one module each, numbered as in BENCHMARKS.md (7 has its memory
//! part in `memory` and its busy reader in `busy_read`).

pub mod busy_read;
pub mod compression;
pub mod cread;
pub mod deliver;
pub mod fanout;
pub mod history;
pub mod memory;
pub mod propagation;
pub mod prototype;
pub mod read;
pub mod reports;
pub mod size;
pub mod update;
