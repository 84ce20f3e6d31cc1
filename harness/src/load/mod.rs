//! Load generation for the benchmark: what pushes traffic through the
//! NFQUEUE filters. `builtin` is the self-contained generator used when
//! Microsoft's `ethr` is not installed.

pub mod builtin;
pub mod generator;
