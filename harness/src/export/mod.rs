//! Exporters: one per output format, each returning the bytes of one file (or of stdout);
//! the caller decides where they go. Nothing here touches the file system.

pub mod csv; // results/<impl>-server.csv: per-second samples, written and read back
pub mod json; // the summary as JSON, for `--json` on stdout
pub mod matrix;
pub mod summary; // results/summary.csv and results/summary.md // results/README.md's table over many results folders
