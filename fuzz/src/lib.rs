//! The checks the fuzz targets run (see `checks.rs`).
pub mod checks;
