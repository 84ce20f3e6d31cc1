//! Shared code of the fuzz targets (see `check`).
pub mod check;
