//! The scenarios of the issue, one module each (7 has its memory part in `memory`).

pub mod cread;
pub mod deliver;
pub mod fanout;
pub mod memory;
pub mod propagation;
pub mod prototype;
pub mod read;
pub mod size;
pub mod update;
