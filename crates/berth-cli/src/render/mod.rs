//! Rendering for the terminal: Docker's units, Go templates (`--format`), aligned tables and pull/push
//! progress.

pub mod progress;
pub mod table;
pub mod template;
pub mod units;
