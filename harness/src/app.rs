//! What each command does, from validated options to files and exit codes. The engine
//! (run.rs) measures; this module prepares the machine checks, resolves the generator,
//! and turns records into the results folder, writing into a fresh folder first and
//! replacing the old results only when everything is written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cli::{AnalyzeArgs, Cli, Command, LoadArgs, ProtocolArg, RunArgs};
use crate::environment::Environment;
use crate::export::{csv as csv_export, json as json_export, summary};
use crate::iptables::Protocol;
use crate::load::builtin;
use crate::load::generator::{which, Generator};
use crate::model::{Impl, LoadGenerator, Metric, RunSeries, Sample, TestInfo};
use crate::options::{LoadChoice, Options};
use crate::run::{Engine, Interrupted, RunRecord};
use crate::stats::{analyze, Analysis, StatsOptions};

/// Exit code when results were written but some runs were invalid and left out.
pub const EXIT_SOME_INVALID: u8 = 3;

pub fn main(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None => run(&cli.run),
        Some(Command::Run(args)) => run(&args),
        Some(Command::Plot(p)) => plot(&p.out).map(|_| ExitCode::SUCCESS),
        Some(Command::Analyze(a)) => analyze_ethr(&a).map(|_| ExitCode::SUCCESS),
        Some(Command::Table(t)) => table(&t.dirs).map(|_| ExitCode::SUCCESS),
        Some(Command::LoadServer(a)) => load_server(&a),
        Some(Command::LoadClient(a)) => load_client(&a),
    }
}

/// Errors a user can fix by changing the command line; they exit with 2 like clap's.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct UsageError(pub anyhow::Error);

fn run(args: &RunArgs) -> Result<ExitCode> {
    let opts = Options::from_args(args).map_err(UsageError)?;
    if opts.dry_run {
        return dry_run(&opts);
    }
    crate::preflight::require_root()?;
    crate::preflight::require_program(&opts.iptables, "iptables")?;
    crate::preflight::require_program("ip", "iproute2")?;
    crate::preflight::require_program("ss", "iproute2")?;
    crate::preflight::require_nfqueue()?;
    let programs = crate::preflight::find_programs(&opts.implementations)?;
    if let Some(rules) = &opts.rules {
        crate::preflight::check_rules(&programs, &opts.implementations, rules)
            .map_err(UsageError)?;
    }
    let generator = resolve_generator(&opts, &programs.harness)?;
    generator.supports(opts.test).map_err(UsageError)?;
    let out = prepare_out(&opts.out)?;

    let stop: Arc<AtomicUsize> = Arc::new(AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_usize(sig, Arc::clone(&stop), sig as usize)?;
    }
    let (mut lock, cleaned) = crate::lock::Lock::acquire(&crate::lock::path())?;
    let swept = crate::netns::sweep_stale()?;
    for line in &cleaned {
        eprintln!("cleaned up after an earlier run: {line}");
    }
    for ns in &swept {
        eprintln!("cleaned up after an earlier run: removed leftover network namespace {ns}");
    }
    if opts.host {
        crate::preflight::host_checks(&opts.iptables, opts.protocol, opts.port, opts.queue)?;
    }

    let staging = Staging::new(&out)?;
    let mut observer: Box<dyn crate::run::Observer> = if opts.quiet {
        Box::new(crate::terminal::Quiet)
    } else {
        Box::new(crate::terminal::Progress::new(
            opts.implementations.len() * opts.runs as usize,
            opts.duration,
            generator.name(),
            false,
        ))
    };
    if !opts.quiet {
        eprintln!(
            "nfq-bench: {} × {} runs of {} each, load generator {} ({}), {}",
            opts.implementations
                .iter()
                .map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(","),
            opts.runs,
            humantime::format_duration(opts.duration),
            generator.name(),
            generator.version(),
            if opts.host {
                "on the host's tables"
            } else {
                "in a fresh network namespace per run"
            }
        );
    }
    let started = std::time::SystemTime::now();
    let records = {
        let mut engine = Engine {
            opts: &opts,
            programs: &programs,
            generator: &generator,
            raw_dir: staging.raw_dir(),
            lock: &mut lock,
            stop: Arc::clone(&stop),
        };
        engine.run_all(observer.as_mut())
    };
    drop(observer);
    let records = match records {
        Ok(r) => r,
        Err(e) => {
            // Nothing of this invocation replaces earlier results.
            drop(staging);
            if e.downcast_ref::<Interrupted>().is_some() {
                bail!("{e}; the runs so far were discarded and earlier results are untouched");
            }
            return Err(e.context("the benchmark failed; earlier results are untouched"));
        }
    };

    let report = Report::new(&opts, &generator, records);
    report.write(&staging, &opts, &generator, started)?;
    staging.promote()?;
    if opts.json {
        print!(
            "{}",
            json_export::summary_json(&report.info, &report.analysis)?
        );
    } else if !opts.quiet {
        println!(
            "{}",
            summary::summary_markdown(&report.info, &report.analysis)
        );
        println!("Results in {}", opts.out.display());
    }
    if report.invalid.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for r in &report.invalid {
            eprintln!(
                "invalid run left out: {} round {}: {}",
                r.spec.implementation.label(),
                r.spec.run,
                r.problem.as_deref().unwrap_or("?")
            );
        }
        Ok(ExitCode::from(EXIT_SOME_INVALID))
    }
}

fn dry_run(opts: &Options) -> Result<ExitCode> {
    let programs = crate::preflight::Programs {
        c_filter: Some(
            crate::filters::binary_path("c-filter").unwrap_or_else(|_| "c-filter".into()),
        ),
        rust_filter: Some(
            crate::filters::binary_path("rust-filter").unwrap_or_else(|_| "rust-filter".into()),
        ),
        harness: std::env::current_exe()?,
    };
    let generator = resolve_generator(opts, &programs.harness)?;
    let mut lock_path = std::env::temp_dir();
    lock_path.push(format!("nfqb-dry-run-{}.lock", std::process::id()));
    let (mut lock, _) = crate::lock::Lock::acquire(&lock_path)?;
    let engine = Engine {
        opts,
        programs: &programs,
        generator: &generator,
        raw_dir: opts.out.join("raw"),
        lock: &mut lock,
        stop: Arc::new(AtomicUsize::new(0)),
    };
    println!(
        "# load generator: {} ({})",
        generator.name(),
        generator.version()
    );
    for spec in crate::run::plan(&opts.implementations, opts.runs) {
        println!("# run {} of {}", spec.run, spec.implementation.label());
        for c in engine.commands(spec) {
            println!("{c}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve_generator(opts: &Options, harness: &Path) -> Result<Generator> {
    let ethr = |given: &Option<PathBuf>| -> Option<PathBuf> {
        match given {
            Some(p) => Some(p.clone()),
            None => which("ethr"),
        }
    };
    Ok(match &opts.load {
        LoadChoice::Auto { ethr: given } => match ethr(given) {
            Some(path) => Generator::Ethr { path },
            None => Generator::Builtin {
                harness: harness.to_path_buf(),
            },
        },
        LoadChoice::Ethr { ethr: given } => match ethr(given) {
            Some(path) if path.is_file() => Generator::Ethr { path },
            _ => bail!(
                "ethr is not installed: put it on PATH or pass --ethr PATH \
                 (releases: github.com/microsoft/ethr), or use --load builtin"
            ),
        },
        LoadChoice::Iperf3 => Generator::Iperf3 {
            path: crate::preflight::require_program("iperf3", "iperf3")?,
        },
        LoadChoice::Builtin => Generator::Builtin {
            harness: harness.to_path_buf(),
        },
    })
}

/// Creates `out` if needed and proves it is writable, before anything else changes.
fn prepare_out(out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("--out {}: cannot create the folder", out.display()))?;
    let probe = out.join(format!(".write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("--out {}: the folder is not writable", out.display()))?;
    std::fs::remove_file(&probe)?;
    Ok(out.canonicalize()?)
}

/// A new folder inside `out` that receives a complete set of results; `promote` moves
/// them over the old ones. Dropped without promotion, it is removed.
struct Staging {
    out: PathBuf,
    dir: PathBuf,
    promoted: bool,
}

/// Files a results set consists of (besides `raw/`).
const RESULT_FILES: &[&str] = &[
    "c-server.csv",
    "rust-server.csv",
    "none-server.csv",
    "summary.csv",
    "summary.md",
    "summary.json",
    "run.json",
    "output.png",
];

impl Staging {
    fn new(out: &Path) -> Result<Staging> {
        let dir = out.join(format!(".run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("raw"))?;
        Ok(Staging {
            out: out.to_path_buf(),
            dir,
            promoted: false,
        })
    }

    fn raw_dir(&self) -> PathBuf {
        self.dir.join("raw")
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let p = self.dir.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("cannot write {}", p.display()))
    }

    fn promote(mut self) -> Result<()> {
        let old_raw = self.out.join("raw");
        if old_raw.exists() {
            std::fs::remove_dir_all(&old_raw)?;
        }
        for name in RESULT_FILES {
            let new = self.dir.join(name);
            let dest = self.out.join(name);
            if new.exists() {
                std::fs::rename(&new, &dest)?;
            } else if dest.exists() {
                std::fs::remove_file(&dest)?;
            }
        }
        std::fs::rename(self.dir.join("raw"), &old_raw)?;
        std::fs::remove_dir_all(&self.dir)?;
        self.promoted = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.promoted {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Everything written about one invocation.
struct Report {
    info: TestInfo,
    analysis: Analysis,
    series: Vec<RunSeries>,
    records: Vec<RunRecord>,
    invalid: Vec<RunRecord>,
}

impl Report {
    fn new(opts: &Options, generator: &Generator, records: Vec<RunRecord>) -> Report {
        let metric = opts.test.metric(opts.protocol);
        let (valid, invalid): (Vec<_>, Vec<_>) = records.iter().cloned().partition(|r| r.valid);
        let series: Vec<RunSeries> = valid
            .iter()
            .map(|r| RunSeries {
                implementation: r.spec.implementation,
                run: r.spec.run,
                samples: r.samples.clone(),
            })
            .collect();
        let analysis = analyze(&series, metric, &StatsOptions::default());
        let mut notes = Vec::new();
        for r in &invalid {
            notes.push(format!(
                "Run {} of {} is invalid and left out: {}",
                r.spec.run,
                r.spec.implementation.label(),
                r.problem.as_deref().unwrap_or("unknown reason")
            ));
        }
        let drops: u64 = valid
            .iter()
            .filter_map(|r| r.kernel.map(|k| k.queue_dropped + k.user_dropped))
            .sum();
        if drops > 0 {
            notes.push(format!(
                "The kernel dropped {drops} queued packets over all runs (see run.json)."
            ));
        }
        let info = TestInfo {
            test: test_name(opts),
            generator: match generator {
                Generator::Ethr { .. } => LoadGenerator::Ethr,
                Generator::Iperf3 { .. } => LoadGenerator::Iperf3,
                Generator::Builtin { .. } => LoadGenerator::Builtin,
            },
            generator_version: Some(generator.version()),
            notes,
        };
        Report {
            info,
            analysis,
            series,
            records,
            invalid,
        }
    }

    fn write(
        &self,
        staging: &Staging,
        opts: &Options,
        generator: &Generator,
        started: std::time::SystemTime,
    ) -> Result<()> {
        for implementation in Impl::DISPLAY_ORDER {
            let samples: Vec<Sample> = self
                .series
                .iter()
                .filter(|s| s.implementation == implementation)
                .flat_map(|s| s.samples.iter().cloned())
                .collect();
            if !samples.is_empty() {
                staging.write(
                    &csv_export::file_name(implementation),
                    &csv_export::samples_to_csv(&samples)?,
                )?;
            }
        }
        staging.write("summary.csv", &summary::summary_csv(&self.analysis)?)?;
        let mut md = summary::summary_markdown(&self.info, &self.analysis);
        md.push_str(&filter_cost_markdown(&self.records));
        staging.write("summary.md", md.as_bytes())?;
        staging.write(
            "summary.json",
            json_export::summary_json(&self.info, &self.analysis)?.as_bytes(),
        )?;
        staging.write(
            "output.png",
            &render(&self.series, &self.info, self.analysis.metric)?,
        )?;
        let run_json = RunJson {
            started: humantime::format_rfc3339_seconds(started).to_string(),
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
            options: opts,
            generator,
            generator_version: generator.version(),
            test: &self.info,
            environment: Environment::collect(&opts.iptables),
            runs: &self.records,
        };
        staging.write("run.json", &serde_json::to_vec_pretty(&run_json)?)?;
        Ok(())
    }
}

#[derive(Serialize)]
struct RunJson<'a> {
    started: String,
    command_line: String,
    options: &'a Options,
    generator: &'a Generator,
    generator_version: String,
    test: &'a TestInfo,
    environment: Environment,
    runs: &'a [RunRecord],
}

fn test_name(opts: &Options) -> String {
    use crate::load::generator::TestKind;
    let what = match (opts.test, opts.protocol) {
        (TestKind::Bandwidth, Protocol::Tcp) => "TCP bandwidth",
        (TestKind::Bandwidth, Protocol::Udp) => "UDP bandwidth",
        (TestKind::Pps, _) => "UDP packets/s",
        (TestKind::Latency, _) => "TCP latency (round trips/s)",
        (TestKind::Conns, _) => "TCP connections/s",
    };
    let streams = if opts.streams == 1 {
        "1 stream".to_string()
    } else {
        format!("{} streams", opts.streams)
    };
    let queues = if opts.queues > 1 {
        format!(", {} queues", opts.queues)
    } else {
        String::new()
    };
    format!(
        "{what}, {streams}, {} profile{queues}",
        opts.profile.as_str()
    )
}

fn render(series: &[RunSeries], info: &TestInfo, metric: Metric) -> Result<Vec<u8>> {
    let title = format!("NFQUEUE filters: {} ({})", info.test, info.generator);
    crate::plot::render_png_with(
        series,
        &crate::plot::PlotSpec {
            title: &title,
            width: 1200,
            height: 700,
            metric,
            excluded_first: 1,
        },
    )
}

/// What each filter cost per packet and what the kernel dropped, per run.
fn filter_cost_markdown(records: &[RunRecord]) -> String {
    use std::fmt::Write as _;
    let filters: Vec<&RunRecord> = records
        .iter()
        .filter(|r| r.spec.implementation.is_filter())
        .collect();
    if filters.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n**Filter cost per run** (CPU time of the filter process over the packets it decided; \
         kernel counters read before the filter stopped):\n\n\
         | Implementation | Round | Valid | Packets | CPU ns/packet | queue_dropped | user_dropped | Peak RSS (KiB) |\n\
         |---|--:|---|--:|--:|--:|--:|--:|\n",
    );
    for r in filters {
        let f = r.filter.as_ref();
        let k = r.kernel.as_ref();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.spec.implementation.label(),
            r.spec.run,
            if r.valid { "yes" } else { "no" },
            f.map_or("–".into(), |f| f.packets.to_string()),
            r.cpu_ns_per_packet
                .map_or("–".into(), |n| format!("{n:.0}")),
            k.map_or("–".into(), |k| k.queue_dropped.to_string()),
            k.map_or("–".into(), |k| k.user_dropped.to_string()),
            r.filter_rss_kib
                .iter()
                .max()
                .map_or("–".into(), |m| m.to_string()),
        );
    }
    s
}

/// `harness table DIR…`: the matrix table over several results folders.
fn table(dirs: &[PathBuf]) -> Result<()> {
    let mut folders = Vec::new();
    for d in dirs {
        let read = |name: &str| -> Result<Vec<u8>> {
            std::fs::read(d.join(name)).with_context(|| format!("{}: no {name}", d.display()))
        };
        folders.push(crate::export::matrix::Folder {
            name: d.display().to_string(),
            summary: serde_json::from_slice(&read("summary.json")?)
                .with_context(|| format!("{}: bad summary.json", d.display()))?,
            run: serde_json::from_slice(&read("run.json")?)
                .with_context(|| format!("{}: bad run.json", d.display()))?,
        });
    }
    print!("{}", crate::export::matrix::table(&folders));
    Ok(())
}

/// `harness plot`: redraws output.png from the CSVs, running nothing.
fn plot(out: &Path) -> Result<()> {
    let mut series = Vec::new();
    for implementation in Impl::DISPLAY_ORDER {
        let path = out.join(csv_export::file_name(implementation));
        if let Ok(bytes) = std::fs::read(&path) {
            let samples = csv_export::samples_from_csv(&bytes)
                .with_context(|| format!("cannot read {}", path.display()))?;
            series.extend(RunSeries::from_samples(implementation, &samples));
        }
    }
    if series.is_empty() {
        bail!(
            "no <impl>-server.csv in {}: run the benchmark first",
            out.display()
        );
    }
    // The test description comes from run.json when there is one.
    let info: TestInfo = std::fs::read(out.join("run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| serde_json::from_value(v.get("test")?.clone()).ok())
        .unwrap_or(TestInfo {
            test: "throughput".into(),
            generator: LoadGenerator::Builtin,
            generator_version: None,
            notes: vec![],
        });
    let saved_metric: Option<Metric> = std::fs::read(out.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| serde_json::from_value(v.get("analysis")?.get("metric")?.clone()).ok());
    let metric = if let Some(m) = saved_metric {
        m
    } else if series
        .iter()
        .all(|s| s.samples.iter().all(|x| x.packets_per_second.is_some()))
        && info.test.contains("UDP")
    {
        Metric::PacketsPerSecond
    } else {
        Metric::BitsPerSecond
    };
    let png = render(&series, &info, metric)?;
    let dest = out.join("output.png");
    let tmp = out.join(".output.png.tmp");
    std::fs::write(&tmp, png)?;
    std::fs::rename(&tmp, &dest)?;
    eprintln!("wrote {}", dest.display());
    Ok(())
}

/// `harness analyze --ethr-log c=FILE …`: the paper's logs into our CSV, summary and plot.
fn analyze_ethr(a: &AnalyzeArgs) -> Result<()> {
    let mut runs: std::collections::BTreeMap<Impl, u32> = Default::default();
    let mut series = Vec::new();
    let mut notes = Vec::new();
    for arg in &a.ethr_logs {
        let (name, file) = arg.split_once('=').ok_or_else(|| {
            UsageError(anyhow::anyhow!(
                "--ethr-log {arg:?}: write it as IMPL=FILE, e.g. c=server.log"
            ))
        })?;
        let implementation: Impl = name
            .parse()
            .map_err(|e| UsageError(anyhow::Error::from(e)))?;
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
        let run = runs.entry(implementation).or_insert(0);
        *run += 1;
        let parsed = crate::ethr::parse_log(&text, crate::ethr::Side::Server);
        if let Some(d) = parsed.errors.describe() {
            notes.push(format!("{file}: {d}"));
        }
        let samples = crate::ethr::samples_from_server_log(&text, *run)
            .with_context(|| format!("{file} holds no ethr server results"))?;
        series.push(RunSeries {
            implementation,
            run: *run,
            samples,
        });
    }
    let out = prepare_out(&a.out)?;
    let staging = Staging::new(&out)?;
    let analysis = analyze(&series, Metric::BitsPerSecond, &StatsOptions::default());
    let info = TestInfo {
        test: "TCP bandwidth (ethr logs)".into(),
        generator: LoadGenerator::Ethr,
        generator_version: None,
        notes,
    };
    for implementation in Impl::DISPLAY_ORDER {
        let samples: Vec<Sample> = series
            .iter()
            .filter(|s| s.implementation == implementation)
            .flat_map(|s| s.samples.iter().cloned())
            .collect();
        if !samples.is_empty() {
            staging.write(
                &csv_export::file_name(implementation),
                &csv_export::samples_to_csv(&samples)?,
            )?;
        }
    }
    staging.write("summary.csv", &summary::summary_csv(&analysis)?)?;
    let md = summary::summary_markdown(&info, &analysis);
    staging.write("summary.md", md.as_bytes())?;
    staging.write(
        "output.png",
        &render(&series, &info, Metric::BitsPerSecond)?,
    )?;
    staging.write(
        "run.json",
        &serde_json::to_vec_pretty(&serde_json::json!({
            "command_line": std::env::args().collect::<Vec<_>>().join(" "),
            "test": info,
            "ethr_logs": a.ethr_logs,
        }))?,
    )?;
    staging.promote()?;
    println!("{md}");
    Ok(())
}

/// The hidden subcommands' arguments, checked.
struct LoadConfig {
    proto: builtin::Proto,
    mode: builtin::Mode,
    addr: std::net::SocketAddr,
    duration: std::time::Duration,
}

fn load_config(a: &LoadArgs) -> Result<LoadConfig> {
    let proto = match a.protocol {
        ProtocolArg::Tcp => builtin::Proto::Tcp,
        ProtocolArg::Udp => builtin::Proto::Udp,
    };
    let addr = format!("{}:{}", a.address, a.port)
        .parse()
        .map_err(|_| UsageError(anyhow::anyhow!("bad address {}", a.address)))?;
    let duration = crate::options::parse_duration(&a.duration).map_err(UsageError)?;
    let mode = a.mode.parse().map_err(UsageError)?;
    Ok(LoadConfig {
        proto,
        mode,
        addr,
        duration,
    })
}

/// Hidden `load-server`: one JSON line per second on stdout.
fn load_server(a: &LoadArgs) -> Result<ExitCode> {
    let c = load_config(a)?;
    let mut cfg = builtin::ServerConfig::new(c.proto, c.addr);
    cfg.mode = c.mode;
    cfg.streams = a.streams;
    // The server's duration is a cap: the run normally ends when the client stops.
    cfg.duration = c.duration + std::time::Duration::from_secs(5);
    let stdout = std::io::stdout();
    builtin::serve(
        &cfg,
        |_| {},
        |interval| {
            let mut lock = stdout.lock();
            let _ = writeln!(lock, "{}", builtin::interval_to_json_line(interval));
            let _ = lock.flush();
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Hidden `load-client`: sends for the duration, prints its own summary as JSON.
fn load_client(a: &LoadArgs) -> Result<ExitCode> {
    let c = load_config(a)?;
    let mut cfg = builtin::ClientConfig::new(c.proto, c.addr);
    cfg.mode = c.mode;
    cfg.streams = a.streams;
    cfg.duration = c.duration;
    let summary = builtin::run_client(&cfg)?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(ExitCode::SUCCESS)
}
