//! Micro-benchmark of the decision path alone, C and Rust side by side: parse the
//! headers, evaluate the rules, encode the verdict message, over a fixed corpus of
//! captured packets (`corpus.rs`) and several rule files (`rulefiles.rs`).
//!
//! Why this exists: the end-to-end benchmark (`make bench`) measures a whole filter
//! behind the kernel, where the decision is a small part of the time and the noise is
//! large. This isolates the part the two languages implement differently and measures
//! it two ways: wall time per packet, and (noise-free) instructions per packet counted
//! by `valgrind --tool=callgrind`.
//!
//! Modes (`cargo bench -p rust-impl --bench decision -- MODE ...`; cargo adds `--bench`):
//! - `time` (the default): per rule file, rounds of N decisions for C and for Rust,
//!   interleaved (C, Rust, then Rust, C, ...); median ns/packet with a 95 % interval
//!   over the rounds, and the Rust/C ratio of each round's pair.
//! - `count --lang c|rust|none --rules NAME --packets N`: exactly N decisions for one
//!   language and rule file and nothing else, for callgrind to count (`none` runs the
//!   loop alone: what every packet costs in both languages besides the decision;
//!   `c-decide` and `rust-decide` leave the encoder out, for the breakdown).
//! - `callgrind`: runs `count` under callgrind for N = 0 and N = --packets per language
//!   and rule file; instructions/packet = (Ir(N) - Ir(0)) / N, which cancels start-up.
//! - `all`: `time` then `callgrind` (what `make microbench` runs).
//!
//! Run without `--bench` and without a mode (as `cargo test --benches` does) it only
//! checks that both languages agree on every packet and times one short round.

mod captured;
mod corpus;
mod rulefiles;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use rulefiles::RuleFile;

/// `NFQB_VERDICT_MSG_LEN`, `rust_impl::verdict::VERDICT_MSG_LEN`.
const VERDICT_MSG_LEN: usize = 32;
/// The queue number written into every verdict message.
const QUEUE: u16 = 0;

/// One language's decision path, as the filter's receive loop runs it per packet.
trait Lang {
    fn step(&self, packet: &[u8], id: u32, buf: &mut [u8; VERDICT_MSG_LEN]);
}

/// `ENCODE = false` is the decision alone, for the breakdown of the instruction counts.
struct C<const ENCODE: bool>(c_impl::Rules);
struct Rust<const ENCODE: bool>(rust_impl::rules::RuleSet);
/// The loop alone: what `run` costs per packet besides the decision.
struct Loop;

// Each step: decide, then encode that verdict as the single-packet verdict message
// (`--batch 1`) into the caller's reused buffer. The whole decision (rule, malformed)
// goes through `black_box`: the filter counts them, so neither side may skip them.

impl<const ENCODE: bool> Lang for C<ENCODE> {
    #[inline(always)]
    fn step(&self, packet: &[u8], id: u32, buf: &mut [u8; VERDICT_MSG_LEN]) {
        let d = black_box(self.0.decide(packet));
        if ENCODE {
            black_box(c_impl::encode_verdict(QUEUE, id, d.verdict, false, buf));
        }
    }
}

impl<const ENCODE: bool> Lang for Rust<ENCODE> {
    #[inline(always)]
    fn step(&self, packet: &[u8], id: u32, buf: &mut [u8; VERDICT_MSG_LEN]) {
        let d = black_box(rust_impl::decide::decide(&self.0, packet));
        if ENCODE {
            black_box(rust_impl::verdict::verdict_message(
                QUEUE, id, d.verdict, false, buf,
            ));
        }
    }
}

impl Lang for Loop {
    #[inline(always)]
    fn step(&self, packet: &[u8], _id: u32, _buf: &mut [u8; VERDICT_MSG_LEN]) {
        black_box(packet.len());
    }
}

/// `n` decisions cycling over `schedule`; packet ids count from 0. The same machine
/// code around `step` for every language (one instance per `L`).
#[inline(never)]
fn run<L: Lang>(lang: &L, schedule: &[&[u8]], n: u64) {
    let mut buf = [0u8; VERDICT_MSG_LEN];
    let mut j = 0;
    for i in 0..n {
        let packet = black_box(schedule[j]);
        lang.step(packet, i as u32, &mut buf);
        j += 1;
        if j == schedule.len() {
            j = 0;
        }
    }
    black_box(&buf);
}

fn parse_c<const ENCODE: bool>(file: &RuleFile) -> C<ENCODE> {
    C(c_impl::Rules::parse(&file.text)
        .unwrap_or_else(|e| panic!("C parser refused rules '{}': {e}", file.name)))
}

fn parse_rust<const ENCODE: bool>(file: &RuleFile) -> Rust<ENCODE> {
    Rust(
        rust_impl::rules::RuleSet::parse(&file.text)
            .unwrap_or_else(|e| panic!("Rust parser refused rules '{}': {e}", file.name)),
    )
}

/// The schedule of one cycle as slices into the corpus.
fn schedule_of(packets: &[corpus::Packet]) -> Vec<&[u8]> {
    corpus::schedule(packets)
        .into_iter()
        .map(|i| &packets[i].bytes[..])
        .collect()
}

// ---- agreement check -------------------------------------------------------------

/// What one rule file does to the corpus, per cycle.
#[derive(Default)]
struct Outcome {
    accepted: usize,
    malformed: usize,
    defaulted: usize,
    /// Rules tested, summed over the cycle's packets.
    rules_tested: usize,
}

/// Asserts that C and Rust give every corpus packet the same verdict, rule and
/// malformed flag and encode the same verdict message bytes, and for the
/// `hundred-last` file that only the last rule ever matches.
fn check_agreement(file: &RuleFile, packets: &[corpus::Packet]) -> Outcome {
    let (c, rust) = (parse_c::<true>(file), parse_rust::<true>(file));
    assert_eq!(c.0.len(), rust.0.len(), "rule count of '{}'", file.name);
    let mut out = Outcome::default();
    for p in packets {
        let dc = c.0.decide(&p.bytes);
        let dr = rust_impl::decide::decide(&rust.0, &p.bytes);
        let same = (dc.verdict == c_impl::Verdict::Accept)
            == (dr.verdict == rust_impl::decide::Verdict::Accept)
            && dc.rule == dr.rule
            && dc.malformed == dr.malformed;
        assert!(
            same,
            "rules '{}', packet '{}': C {dc:?} vs Rust {dr:?}",
            file.name, p.name
        );
        let (mut bc, mut br) = ([0; VERDICT_MSG_LEN], [0xff; VERDICT_MSG_LEN]);
        for (id, batch) in [(0, false), (0x0102_0304, false), (u32::MAX, true)] {
            assert_eq!(
                c_impl::encode_verdict(QUEUE, id, dc.verdict, batch, &mut bc),
                rust_impl::verdict::verdict_message(QUEUE, id, dr.verdict, batch, &mut br),
                "verdict message for packet '{}'",
                p.name
            );
        }
        if file.name == "hundred-last" && !dr.malformed {
            assert_eq!(dr.rule, Some(99), "packet '{}' matched early", p.name);
        }
        let w = p.weight;
        out.accepted += w * usize::from(dr.verdict == rust_impl::decide::Verdict::Accept);
        out.malformed += w * usize::from(dr.malformed);
        out.defaulted += w * usize::from(dr.rule.is_none());
        out.rules_tested += w * match (dr.malformed, dr.rule) {
            (true, _) => 0,
            (false, Some(r)) => r + 1,
            (false, None) => rust.0.len(),
        };
    }
    out
}

// ---- statistics ------------------------------------------------------------------

/// Median and a distribution-free interval for it: order statistics x(k) and
/// x(n+1-k) with the largest k whose coverage is still >= 95 % (min and max when even
/// they fall short). Returns (median, low, high, coverage).
fn median_interval(xs: &[f64]) -> (f64, f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    // [x(k), x(n+1-k)] misses the median with probability 2 P(Binomial(n, 1/2) <= k-1).
    let mut k = 1;
    while k < n / 2 && binomial_cdf(n, k) <= 0.025 {
        k += 1;
    }
    let coverage = 1.0 - 2.0 * binomial_cdf(n, k - 1);
    (median, v[k - 1], v[n - k], coverage)
}

/// P(Binomial(n, 1/2) <= j).
fn binomial_cdf(n: usize, j: usize) -> f64 {
    let mut sum = 0.0;
    let mut choose = 1.0f64;
    for i in 0..=j {
        sum += choose;
        choose = choose * (n - i) as f64 / (i + 1) as f64;
    }
    sum / 2f64.powi(n as i32)
}

// ---- environment -----------------------------------------------------------------

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn print_environment() {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("- machine: {} ({cpus} CPUs)", cpu_model());
    println!(
        "- {}; C: {} at -O2 (c-impl/build.rs); Rust: bench profile (= release, opt-level 3)",
        first_line("rustc", &["-V"]),
        first_line("cc", &["--version"])
    );
    println!("- work per packet: decide, then encode the verdict message (`NFQNL_MSG_VERDICT`, 32 bytes) into a reused buffer: `c_impl::Rules::decide` + `c_impl::encode_verdict` (libnetfilter_queue's `nfq_nlmsg_put` + `nfq_nlmsg_verdict_put`) against `rust_impl::decide::decide` + `rust_impl::verdict::verdict_message`");
}

fn print_corpus(packets: &[corpus::Packet], files: &[RuleFile]) {
    let mut classes: Vec<(&str, usize)> = Vec::new();
    for p in packets {
        match classes.iter_mut().find(|(c, _)| *c == p.class) {
            Some((_, w)) => *w += p.weight,
            None => classes.push((p.class, p.weight)),
        }
    }
    let mix: Vec<String> = classes
        .iter()
        .map(|(c, w)| format!("{c} {:.1} %", 100.0 * *w as f64 / corpus::CYCLE as f64))
        .collect();
    println!(
        "- corpus: {} captured packets in a fixed shuffled cycle of {} decisions: {}",
        packets.len(),
        corpus::CYCLE,
        mix.join(", ")
    );
    println!();
    println!("| rules | what | rules in file | accepted | default verdict | malformed | rules tested per packet |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for f in files {
        let o = check_agreement(f, packets);
        let pct = |x: usize| 100.0 * x as f64 / corpus::CYCLE as f64;
        println!(
            "| {} | {} | {} | {:.1} % | {:.1} % | {:.1} % | {:.2} |",
            f.name,
            f.about,
            parse_rust::<true>(f).0.len(),
            pct(o.accepted),
            pct(o.defaulted),
            pct(o.malformed),
            o.rules_tested as f64 / corpus::CYCLE as f64
        );
    }
    println!();
    println!("C and Rust agree on every packet under every rule file, decision and message bytes (checked before measuring).");
    println!();
}

// ---- time ------------------------------------------------------------------------

fn time_one<L: Lang>(lang: &L, schedule: &[&[u8]], n: u64) -> f64 {
    let t = Instant::now();
    run(lang, schedule, n);
    t.elapsed().as_nanos() as f64 / n as f64
}

fn time_mode(files: &[RuleFile], rounds: usize, n: u64) {
    let packets = corpus::packets();
    let schedule = schedule_of(&packets);
    println!("## Time per packet\n");
    print_environment();
    println!("- {rounds} rounds per language and rule file, {n} decisions each; C and Rust alternate (C, Rust, Rust, C, ...) after one warm-up round each");
    println!("- load average before: {}", loadavg());
    print_corpus(&packets, files);
    let mut rows = Vec::new();
    for f in files {
        let (c, rust) = (parse_c::<true>(f), parse_rust::<true>(f));
        time_one(&c, &schedule, n);
        time_one(&rust, &schedule, n);
        let (mut tc, mut tr) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            if r % 2 == 0 {
                tc.push(time_one(&c, &schedule, n));
                tr.push(time_one(&rust, &schedule, n));
            } else {
                tr.push(time_one(&rust, &schedule, n));
                tc.push(time_one(&c, &schedule, n));
            }
        }
        let ratios: Vec<f64> = tr.iter().zip(&tc).map(|(r, c)| r / c).collect();
        rows.push((
            f.name,
            median_interval(&tc),
            median_interval(&tr),
            median_interval(&ratios),
        ));
    }
    let coverage = rows.first().map_or(0.0, |r| r.1 .3);
    println!("| rules | C ns/packet | Rust ns/packet | Rust/C |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, c, r, q) in &rows {
        println!(
            "| {name} | {:.2} [{:.2}, {:.2}] | {:.2} [{:.2}, {:.2}] | {:.3} [{:.3}, {:.3}] |",
            c.0, c.1, c.2, r.0, r.1, r.2, q.0, q.1, q.2
        );
    }
    println!();
    println!(
        "Median over rounds [interval: order statistics, coverage {:.1} %]; Rust/C is the median of the per-round ratios.",
        100.0 * coverage
    );
    println!("Load average after: {} (wall time: other processes on the machine add noise; the instruction counts below do not have it).", loadavg());
    println!();
}

// ---- count -----------------------------------------------------------------------

fn count_mode(file: &RuleFile, lang: &str, n: u64) {
    let packets = corpus::packets();
    let schedule = schedule_of(&packets);
    match lang {
        "c" => run(&parse_c::<true>(file), &schedule, n),
        "rust" => run(&parse_rust::<true>(file), &schedule, n),
        "c-decide" => run(&parse_c::<false>(file), &schedule, n),
        "rust-decide" => run(&parse_rust::<false>(file), &schedule, n),
        "none" => run(&Loop, &schedule, n),
        other => {
            eprintln!("decision: --lang c|rust|c-decide|rust-decide|none, not '{other}'");
            std::process::exit(2);
        }
    }
}

// ---- callgrind -------------------------------------------------------------------

/// Total instructions of one callgrind run, from the out file's `summary:` or
/// `totals:` line, else from `==PID== Collected : N` on stderr.
fn total_ir(out_file: &Path, stderr: &str) -> Option<u64> {
    let from_file = std::fs::read_to_string(out_file).ok().and_then(|s| {
        s.lines()
            .find_map(|l| {
                l.strip_prefix("summary:")
                    .or_else(|| l.strip_prefix("totals:"))
            })
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    });
    from_file.or_else(|| {
        stderr
            .lines()
            .find_map(|l| {
                l.split_once("Collected :")
                    .map(|(_, v)| v.trim().parse().ok())
            })
            .flatten()
    })
}

fn callgrind_run(exe: &Path, dir: &Path, file: &str, lang: &str, n: u64) -> Result<u64, String> {
    let out = dir.join(format!("callgrind.{file}.{lang}.{n}.out"));
    let o = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args([
            "count",
            "--lang",
            lang,
            "--rules",
            file,
            "--packets",
            &n.to_string(),
        ])
        .output()
        .map_err(|e| format!("valgrind: {e} (install it: apt-get install valgrind)"))?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        return Err(format!("valgrind {file} {lang} {n} failed: {stderr}"));
    }
    total_ir(&out, &stderr).ok_or_else(|| format!("no instruction total for {file} {lang} {n}"))
}

fn callgrind_mode(files: &[RuleFile], n: u64, dir: &Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let version = first_line("valgrind", &["--version"]);
    if version == "unknown" {
        return Err("valgrind not found (install it: apt-get install valgrind)".into());
    }
    // Every (file, lang, N) run, two at a time (counts do not depend on load).
    let langs = ["none", "c", "rust", "c-decide", "rust-decide"];
    let jobs: Vec<(&str, &str, u64)> = files
        .iter()
        .flat_map(|f| {
            langs
                .iter()
                .flat_map(move |l| [(f.name, *l, 0), (f.name, *l, n)])
        })
        .collect();
    let results = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(f, l, k)) = jobs.get(i) else { break };
                let r = callgrind_run(&exe, dir, f, l, k);
                results.lock().unwrap().push(((f, l, k), r));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let ir = |f: &str, l: &str, k: u64| -> Result<u64, String> {
        results
            .iter()
            .find(|((a, b, c), _)| *a == f && *b == l && *c == k)
            .map(|(_, r)| r.clone())
            .expect("every job ran")
    };
    let per_packet = |f: &str, l: &str| -> Result<f64, String> {
        Ok((ir(f, l, n)? as f64 - ir(f, l, 0)? as f64) / n as f64)
    };
    println!("## Instructions per packet (callgrind)\n");
    println!("- {version}, `valgrind --tool=callgrind` on `decision count --lang L --rules R --packets N`, N = 0 and N = {n}");
    println!("- instructions/packet = (Ir(N) - Ir(0)) / N: start-up, rules parsing and corpus set-up cancel");
    println!("- `loop`: the benchmark loop alone (`--lang none`), included in both C and Rust; `net` ratios subtract it");
    println!("- `decide only` (`--lang c-decide|rust-decide`): the same loop without the encoder, loop subtracted");
    println!(
        "- work per packet: decide + encode the verdict message, as under \"Time per packet\""
    );
    println!("- callgrind out files: {}", dir.display());
    println!();
    println!("| rules | C instr/packet | Rust instr/packet | Rust/C | loop instr/packet | Rust/C net of loop | decide only: C | decide only: Rust | decide only: Rust/C |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for f in files {
        let (c, r, l) = (
            per_packet(f.name, "c")?,
            per_packet(f.name, "rust")?,
            per_packet(f.name, "none")?,
        );
        let (dc, dr) = (
            per_packet(f.name, "c-decide")? - l,
            per_packet(f.name, "rust-decide")? - l,
        );
        println!(
            "| {} | {c:.2} | {r:.2} | {:.3} | {l:.2} | {:.3} | {dc:.2} | {dr:.2} | {:.3} |",
            f.name,
            r / c,
            (r - l) / (c - l),
            dr / dc
        );
    }
    println!();
    println!("Raw totals (Ir):\n");
    println!("| rules | lang | Ir(0) | Ir({n}) |");
    println!("| --- | --- | ---: | ---: |");
    for f in files {
        for l in langs {
            println!(
                "| {} | {l} | {} | {} |",
                f.name,
                ir(f.name, l, 0)?,
                ir(f.name, l, n)?
            );
        }
    }
    println!();
    Ok(())
}

// ---- smoke (cargo test --benches) -------------------------------------------------

fn smoke(files: &[RuleFile]) {
    let packets = corpus::packets();
    let schedule = schedule_of(&packets);
    for f in files {
        check_agreement(f, &packets);
        let c = time_one(&parse_c::<true>(f), &schedule, 20_000);
        let r = time_one(&parse_rust::<true>(f), &schedule, 20_000);
        println!(
            "decision smoke {}: C {c:.1} ns/packet, Rust {r:.1} ns/packet",
            f.name
        );
    }
}

// ---- command line ----------------------------------------------------------------

struct Args {
    mode: Option<String>,
    bench: bool,
    rounds: usize,
    packets: Option<u64>,
    rules: Vec<String>,
    lang: Option<String>,
    out_dir: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        mode: None,
        bench: false,
        rounds: 10,
        packets: None,
        rules: Vec::new(),
        lang: None,
        out_dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("missing value after {name}"))
        };
        match arg.as_str() {
            "--bench" => a.bench = true,
            "--rounds" => {
                a.rounds = value("--rounds")?
                    .parse()
                    .map_err(|e| format!("--rounds: {e}"))?;
            }
            "--packets" => {
                a.packets = Some(
                    value("--packets")?
                        .parse()
                        .map_err(|e| format!("--packets: {e}"))?,
                );
            }
            "--rules" => a.rules.push(value("--rules")?),
            "--lang" => a.lang = Some(value("--lang")?),
            "--out-dir" => a.out_dir = Some(PathBuf::from(value("--out-dir")?)),
            "time" | "count" | "callgrind" | "all" if a.mode.is_none() => a.mode = Some(arg),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if a.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("decision: {e}");
            eprintln!("usage: decision [time|callgrind|all] [--rounds R] [--packets N] [--rules NAME]... [--out-dir DIR]");
            eprintln!("       decision count --lang c|rust|none --rules NAME --packets N");
            return ExitCode::from(2);
        }
    };
    let mut files = rulefiles::all();
    if !args.rules.is_empty() {
        if let Some(bad) = args
            .rules
            .iter()
            .find(|r| !files.iter().any(|f| f.name == **r))
        {
            let names: Vec<_> = files.iter().map(|f| f.name).collect();
            eprintln!(
                "decision: no rule file '{bad}' (have: {})",
                names.join(", ")
            );
            return ExitCode::from(2);
        }
        files.retain(|f| args.rules.iter().any(|r| r == f.name));
    }
    let mode = match (&args.mode, args.bench) {
        (Some(m), _) => m.as_str(),
        (None, true) => "time",
        (None, false) => "smoke",
    };
    let callgrind_dir = || {
        args.out_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("nfqb-microbench-callgrind"))
    };
    match mode {
        "smoke" => smoke(&files),
        "time" => time_mode(&files, args.rounds, args.packets.unwrap_or(1_000_000)),
        "count" => {
            let (Some(lang), [_], Some(n)) = (&args.lang, &files[..], args.packets) else {
                eprintln!("decision: count needs --lang, one --rules and --packets");
                return ExitCode::from(2);
            };
            if args.rules.len() != 1 {
                eprintln!("decision: count needs exactly one --rules");
                return ExitCode::from(2);
            }
            count_mode(&files[0], lang, n);
        }
        "callgrind" | "all" => {
            if mode == "all" {
                time_mode(&files, args.rounds, args.packets.unwrap_or(1_000_000));
            }
            let n = if mode == "all" {
                200_000
            } else {
                args.packets.unwrap_or(200_000)
            };
            if let Err(e) = callgrind_mode(&files, n, &callgrind_dir()) {
                eprintln!("decision: {e}");
                return ExitCode::from(1);
            }
        }
        _ => unreachable!("modes are checked in parse_args"),
    }
    ExitCode::SUCCESS
}
