//! nfq-bench's harness as a library: the `harness` binary is a thin shell over it, and
//! the privileged tests drive the same code.

pub mod app; // what each command does: checks, engine, results folder, exit codes
pub mod cli; // command-line declaration only
pub mod environment; // machine and tool versions for run.json
pub mod ethr; // parses ethr v1.0.0 JSON logs and console text into typed intervals
pub mod export; // one exporter per output format (CSV, summary table, JSON), returning bytes
pub mod filters; // the two filter programs: binaries, shared flags, stats JSON
pub mod iperf3; // parses `iperf3 -J` output, receiver-side numbers
pub mod iptables; // the NFQUEUE rule, installed and removed by its unique comment
pub mod load; // load generators: ethr, iperf3 and the built-in one
pub mod lock; // one run at a time; recovery after a SIGKILLed harness
pub mod model; // the data model shared by parsers, statistics, exporters and plots
pub mod netns; // network namespaces and child processes that clean up after themselves
pub mod options; // validated run options
pub mod plot; // renders throughput over time as PNG bytes
pub mod preflight; // checks made before anything on the machine changes
pub mod privilege; // root checks for the harness and privileged tests
pub mod run; // the engine: interleaved runs, each torn down by guards
pub mod stats; // descriptive statistics, confidence intervals, Rust/C verdict, bottleneck test
mod sys; // the one unsafe call: children die with the harness
pub mod terminal; // progress bar and run lines on the terminal
