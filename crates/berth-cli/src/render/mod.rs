//! Rendering for the terminal: Docker's units, Go templates (`--format`) and aligned tables.

pub mod table;
pub mod template;
pub mod units;
