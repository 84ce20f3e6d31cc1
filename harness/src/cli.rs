//! Command-line declaration only: what the user can type. Validation into the typed
//! `Options` lives in `options.rs`; nothing here runs anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Benchmarks the C and Rust NFQUEUE filters against the no-filter limit",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the benchmark (the default when no command is given)
    Run(RunArgs),
    /// Redraw output.png from the CSVs in --out, running nothing
    Plot(PlotArgs),
    /// Re-analyse existing ethr server logs (the paper's format)
    Analyze(AnalyzeArgs),
    /// Print one markdown table (test × profile × implementation) from results folders
    Table(TableArgs),
    /// Built-in load generator, receiving side (used by the harness inside the namespace)
    #[command(hide = true)]
    LoadServer(LoadArgs),
    /// Built-in load generator, sending side (used by the harness inside the namespace)
    #[command(hide = true)]
    LoadClient(LoadArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadKind {
    /// ethr if found, else the built-in generator
    Auto,
    Ethr,
    Iperf3,
    Builtin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestArg {
    /// TCP bulk transfer, bits/s at the receiver
    Bandwidth,
    /// Small UDP packets, packets/s at the receiver
    Pps,
    /// TCP request/response round trips per second (latency)
    Latency,
    /// TCP connections accepted per second
    Conns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// The paper's settings: copy every byte, one verdict per packet, one queue
    Seed,
    /// Headers only (copy 128), GSO, batch verdicts of 32 (and --queues N)
    Tuned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Implementations to run, comma-separated: c, rust, none (no filter), all
    #[arg(long = "impl", value_name = "LIST", default_value = "all")]
    pub implementations: String,

    /// Length of each run's load, e.g. 30s, 1m, 90s
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        allow_hyphen_values = true
    )]
    pub duration: String,

    /// Runs per implementation, interleaved (c, rust, none, c, rust, none, ...)
    #[arg(long, default_value_t = 3)]
    pub runs: u32,

    /// Load generator
    #[arg(long, value_enum, default_value_t = LoadKind::Auto)]
    pub load: LoadKind,

    /// Path to the ethr binary (default: looked up on PATH)
    #[arg(long, value_name = "PATH")]
    pub ethr: Option<PathBuf>,

    /// What is measured
    #[arg(long, value_enum, default_value_t = TestArg::Bandwidth)]
    pub test: TestArg,

    /// Filter settings: the paper's (seed) or the optimised ones (tuned)
    #[arg(long, value_enum, default_value_t = ProfileArg::Seed)]
    pub profile: ProfileArg,

    /// Transport protocol of the load and the rule [default: udp for --test pps, else tcp]
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,

    /// Parallel streams of the load (more streams make the filter the bottleneck)
    #[arg(long, default_value_t = 1)]
    pub streams: u32,

    /// Address the load is sent to (and the rule matches)
    #[arg(long, default_value = "127.0.0.1")]
    pub address: String,

    /// Port the load is sent to (and the rule matches)
    #[arg(long, default_value = "9999", allow_hyphen_values = true)]
    pub port: String,

    /// NFQUEUE number
    #[arg(long, default_value_t = 0)]
    pub queue: u16,

    /// Queues (one filter thread each); the rule balances flows over them
    #[arg(long, default_value_t = 1)]
    pub queues: u16,

    /// Balance queues by CPU instead of by flow (--queue-cpu-fanout)
    #[arg(long)]
    pub queue_cpu_fanout: bool,

    /// Bytes of each packet copied to the filter [default: 65535 seed, 128 tuned]
    #[arg(long)]
    pub copy_range: Option<u32>,

    /// Have the kernel pass GSO packets whole [default: off seed, on tuned]
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub gso: Option<bool>,

    /// Verdicts per batch message [default: 1 seed, 32 tuned]
    #[arg(long)]
    pub batch: Option<u32>,

    /// Kernel queue length given to the filter
    #[arg(long)]
    pub queue_maxlen: Option<u32>,

    /// Filter's netlink receive buffer in bytes (0 = system default)
    #[arg(long)]
    pub rcvbuf: Option<u64>,

    /// Filter rules file (default: accept everything, as the paper)
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    /// Tell the filter to fail open (kernel accepts when its queue is full)
    #[arg(long)]
    pub fail_open: bool,

    /// Add --queue-bypass to the rule (packets pass when no filter is bound)
    #[arg(long)]
    pub queue_bypass: bool,

    /// iptables binary that installs the rule
    #[arg(long, default_value = "iptables")]
    pub iptables: String,

    /// Run on the host's own tables, like the paper (default: a fresh network namespace)
    #[arg(long)]
    pub host: bool,

    /// Results folder
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,

    /// Print every command the run would execute, change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// No progress bar, no summary table
    #[arg(long, short)]
    pub quiet: bool,

    /// Print the summary as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// Results folders, each holding a summary.json and run.json of one test
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// Results folder holding the <impl>-server.csv files
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct AnalyzeArgs {
    /// An ethr server log as IMPL=FILE (impl: c, rust, none); repeat per implementation or run
    #[arg(long = "ethr-log", value_name = "IMPL=FILE", required = true)]
    pub ethr_logs: Vec<String>,

    /// Results folder to write the CSV, summary and plot into
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[arg(long, value_enum, default_value_t = ProtocolArg::Tcp)]
    pub protocol: ProtocolArg,
    /// stream, round-trip or connect
    #[arg(long, default_value = "stream")]
    pub mode: String,
    #[arg(long)]
    pub address: String,
    #[arg(long)]
    pub port: u16,
    #[arg(long, default_value_t = 1)]
    pub streams: u32,
    #[arg(long)]
    pub duration: String,
}
