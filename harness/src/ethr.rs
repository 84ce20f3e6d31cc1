//! Parsers for the output of ethr v1.0.0, the load generator the paper used.
//!
//! ethr writes two things: a JSON log (`-o FILE`, one object a line, every number a string
//! with an SI suffix such as `34.15G`, `472.89K` or `44.359us`, `"--  "` when not measured)
//! and console text. Both are parsed into the same typed [`Interval`]s. Only the server's
//! numbers say what passed a filter (the client reports what it sent), so
//! [`samples_from_server_log`] is what the harness uses; the rest exists to cross-check and
//! to survive everything real ethr output contains: a partial first interval, per-stream and
//! `[SUM]` rows, INFO and ERROR rows mixed in (thousands of `too many open files` in a
//! connections test), and garbage lines. Garbage is counted, never fatal.
//!
//! ethr v1.0.0 writes the latency percentiles of its JSON `LatencyResult` rows into the
//! wrong fields (rotated by one: `P50` holds the maximum, `P90` the median, …, `Max` the
//! 99.99th percentile; the console text of the same run has them right). The parser
//! detects the rotation (a "P50" above "P90" or above "Max" cannot be a true P50) and
//! puts the values back where they belong; [`EthrOutput::latency_rows_reordered`] counts it.

use std::collections::{BTreeMap, HashMap};

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::model::Sample;

/// Which end of the test wrote the output. It decides how rows are read: the server
/// reports per remote address and its first interval is partial; the client reports per
/// stream (plus `[SUM]` rows with `-n 2` or more) over whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Server,
    Client,
}

/// Whose traffic a row counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// A server row: everything received from one remote address (all its streams).
    Remote(String),
    /// A client row for one stream (the number in `[    7]`).
    Stream(u32),
    /// A client `[  SUM]` row: all streams together.
    Sum,
    /// A client total without a stream id (a `TestResult` row, or console rows of
    /// tests that print no id, such as `-t c` and `-t p`).
    Total,
}

/// Latency percentiles of one interval, in microseconds, in their true order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub avg_us: f64,
    pub min_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub p9999_us: f64,
    pub max_us: f64,
}

/// One reported interval (normally one second) of one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// 1-based line number in the parsed text.
    pub line: usize,
    /// The JSON log's `Time` field (second resolution); `None` for console text.
    pub time: Option<String>,
    pub scope: Scope,
    /// `TCP`, `UDP`, … as ethr printed it.
    pub protocol: String,
    /// `(start, end)` in seconds from the client's `000-001 sec` column, when printed.
    pub span: Option<(u32, u32)>,
    /// True for the server's first row of a test: ethr starts the test's clock at accept,
    /// not on a second boundary, so the row covers a fraction of a second (`1.09G`, `0`).
    /// Kept here; statistics drop it.
    pub partial: bool,
    pub bits_per_second: Option<f64>,
    pub packets_per_second: Option<f64>,
    pub connections_per_second: Option<f64>,
    /// The server's `AverageLatency` / `Latency` column.
    pub average_latency_us: Option<f64>,
    /// Percentiles, from a `LatencyResult` row or a latency console line.
    pub latency: Option<Latency>,
}

impl Interval {
    fn new(line: usize, scope: Scope, protocol: &str) -> Self {
        Interval {
            line,
            time: None,
            scope,
            protocol: protocol.to_string(),
            span: None,
            partial: false,
            bits_per_second: None,
            packets_per_second: None,
            connections_per_second: None,
            average_latency_us: None,
            latency: None,
        }
    }
}

/// A value ethr printed that is not a number with a known suffix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{0:?} has an unknown unit suffix")]
    UnknownSuffix(String),
}

/// A line that could not be used. None of these is fatal: they are collected in
/// [`EthrOutput::problems`] so the caller can report them.
#[derive(Debug, thiserror::Error)]
pub enum EthrError {
    #[error("line {line}: not a JSON object: {message}")]
    NotJson { line: usize, message: String },
    #[error("line {line}: field {field}: {source}")]
    BadValue {
        line: usize,
        field: &'static str,
        source: ValueError,
    },
    #[error("line {line}: a result row without {field}")]
    MissingField { line: usize, field: &'static str },
    #[error("line {line}: a result row with {found} values where the header has {expected}")]
    ColumnCount {
        line: usize,
        expected: usize,
        found: usize,
    },
}

impl EthrError {
    /// The 1-based line the problem is on.
    pub fn line(&self) -> usize {
        match self {
            EthrError::NotJson { line, .. }
            | EthrError::BadValue { line, .. }
            | EthrError::MissingField { line, .. }
            | EthrError::ColumnCount { line, .. } => *line,
        }
    }
}

/// ethr's own error rows (`"Type":"ERROR"`, or console lines starting with `Error`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorRows {
    /// How many there were.
    pub count: usize,
    /// Distinct messages with their counts, in order of first appearance (at most
    /// [`ErrorRows::MAX_DISTINCT`]; later new messages are counted in `count` only).
    pub by_message: Vec<(String, usize)>,
}

impl ErrorRows {
    pub const MAX_DISTINCT: usize = 20;

    fn add(&mut self, message: &str) {
        self.count += 1;
        if let Some(entry) = self.by_message.iter_mut().find(|(m, _)| m == message) {
            entry.1 += 1;
        } else if self.by_message.len() < Self::MAX_DISTINCT {
            self.by_message.push((message.to_string(), 1));
        }
    }

    /// How many error rows contain `needle` (among the distinct messages kept).
    pub fn count_containing(&self, needle: &str) -> usize {
        self.by_message
            .iter()
            .filter(|(m, _)| m.contains(needle))
            .map(|(_, n)| n)
            .sum()
    }

    /// One sentence for a report, or `None` when ethr logged no error.
    pub fn describe(&self) -> Option<String> {
        let (message, n) = self.by_message.iter().max_by_key(|(_, n)| *n)?;
        Some(format!(
            "ethr logged {} error row{}; most frequent ({}×): {}",
            self.count,
            if self.count == 1 { "" } else { "s" },
            n,
            message
        ))
    }
}

/// Everything parsed from one ethr output.
#[derive(Debug)]
pub struct EthrOutput {
    /// The side the caller said wrote it.
    pub side: Side,
    /// Aggregate rows in order: the server's per-remote rows; the client's totals
    /// (`TestResult` rows, `[SUM]` rows, or the single stream's rows); latency rows.
    pub intervals: Vec<Interval>,
    /// The client's per-stream rows (`[    7]`, `[    8]`, …); empty for the server.
    pub streams: Vec<Interval>,
    /// ethr's ERROR rows.
    pub errors: ErrorRows,
    /// INFO rows and other text lines that carry no number (banners, headers, hints).
    pub info_lines: usize,
    /// Lines that could not be used, with line numbers (at most [`EthrOutput::MAX_PROBLEMS`]).
    pub problems: Vec<EthrError>,
    /// How many unusable lines there were in all (`problems` keeps only the first ones).
    pub problem_count: usize,
    /// JSON `LatencyResult` rows whose fields were rotated by ethr v1.0.0 and put back.
    pub latency_rows_reordered: usize,
}

impl EthrOutput {
    pub const MAX_PROBLEMS: usize = 100;

    fn new(side: Side) -> Self {
        EthrOutput {
            side,
            intervals: Vec::new(),
            streams: Vec::new(),
            errors: ErrorRows::default(),
            info_lines: 0,
            problems: Vec::new(),
            problem_count: 0,
            latency_rows_reordered: 0,
        }
    }

    fn problem(&mut self, e: EthrError) {
        self.problem_count += 1;
        if self.problems.len() < Self::MAX_PROBLEMS {
            self.problems.push(e);
        }
    }

    /// Per-second samples of the aggregate rows that have a bit rate, for one run.
    ///
    /// `second` is the client's interval end when printed, otherwise the 1-based index of
    /// the row among its scope's rows (so the server's partial first row is second 1).
    /// Rows of several remote addresses in the same second are added up.
    pub fn to_samples(&self, run: u32) -> Vec<Sample> {
        let mut ordinal: HashMap<(&Scope, &str), u32> = HashMap::new();
        let mut by_second: BTreeMap<u32, (f64, Option<f64>)> = BTreeMap::new();
        for i in &self.intervals {
            let Some(bits) = i.bits_per_second else {
                continue;
            };
            let n = ordinal.entry((&i.scope, i.protocol.as_str())).or_insert(0);
            *n += 1;
            let second = i.span.map_or(*n, |(_, end)| end);
            let entry = by_second.entry(second).or_insert((0.0, None));
            entry.0 += bits;
            if let Some(p) = i.packets_per_second {
                entry.1 = Some(entry.1.unwrap_or(0.0) + p);
            }
        }
        by_second
            .into_iter()
            .map(|(second, (bits_per_second, packets_per_second))| Sample {
                run,
                second,
                bits_per_second,
                packets_per_second,
            })
            .collect()
    }

    /// Rows with a bit rate (what [`EthrOutput::to_samples`] uses).
    pub fn result_rows(&self) -> usize {
        self.intervals
            .iter()
            .filter(|i| i.bits_per_second.is_some())
            .count()
    }
}

/// Parses a number ethr printed: `34.15G`, `472.89K`, `1.2M`, `0`, `3.78M`.
/// Suffixes are decimal (K = 10³ … T = 10¹²), as ethr uses. `--` (any number of dashes,
/// any padding) and the empty string mean "not measured" and give `None`.
pub fn parse_si(text: &str) -> Result<Option<f64>, ValueError> {
    let t = text.trim();
    if t.is_empty() || t.chars().all(|c| c == '-') {
        return Ok(None);
    }
    let (digits, factor) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let factor = match c {
                'K' | 'k' => 1e3,
                'M' => 1e6,
                'G' => 1e9,
                'T' => 1e12,
                _ => return Err(ValueError::UnknownSuffix(text.to_string())),
            };
            (&t[..i], factor)
        }
        _ => (t, 1.0),
    };
    Ok(Some(plain_number(digits, text)? * factor))
}

/// Parses a latency ethr printed (`44.359us`, `1.2ms`, `0.8s`, `500ns`, `0`) into
/// microseconds. `--` and the empty string give `None`.
pub fn parse_latency_us(text: &str) -> Result<Option<f64>, ValueError> {
    let t = text.trim();
    if t.is_empty() || t.chars().all(|c| c == '-') {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let factor = match unit {
        "ns" => 1e-3,
        "us" | "µs" | "μs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "" if digits.chars().all(|c| c == '0' || c == '.') => 1.0,
        _ => return Err(ValueError::UnknownSuffix(text.to_string())),
    };
    Ok(Some(plain_number(digits, text)? * factor))
}

/// Digits with at most one decimal point; no sign, exponent, `inf` or `NaN`.
fn plain_number(digits: &str, original: &str) -> Result<f64, ValueError> {
    let ok = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|&c| c == '.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return Err(ValueError::NotANumber(original.to_string()));
    }
    digits
        .parse()
        .map_err(|_| ValueError::NotANumber(original.to_string()))
}

/// The receiver-side samples of one run from the server's JSON log (`-o FILE`).
/// Fails when the log has no result row, saying what ethr logged instead.
pub fn samples_from_server_log(text: &str, run: u32) -> anyhow::Result<Vec<Sample>> {
    let parsed = parse_log(text, Side::Server);
    let samples = parsed.to_samples(run);
    if samples.is_empty() {
        let why = parsed
            .errors
            .describe()
            .or_else(|| {
                parsed
                    .problems
                    .first()
                    .map(|p| format!("first unusable line: {p}"))
            })
            .unwrap_or_else(|| "and no error either".to_string());
        bail!("ethr's server log has no result row ({why})");
    }
    Ok(samples)
}

/// Parses ethr's JSON log (`-o FILE`). Never fails: unusable lines are counted.
pub fn parse_log(text: &str, side: Side) -> EthrOutput {
    let mut out = EthrOutput::new(side);
    let mut text_rows = TextParser::default();
    // A server writes a LatencyResult just before the TestResult of the same second;
    // it waits here to be joined with it.
    let mut pending: HashMap<(String, String), Interval> = HashMap::new();
    let mut seen_keys: Vec<(String, String)> = Vec::new();

    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let row: RawRow = match serde_json::from_str(raw) {
            Ok(row) => row,
            Err(e) => {
                out.problem(EthrError::NotJson {
                    line,
                    message: e.to_string(),
                });
                continue;
            }
        };
        match row.kind.as_deref() {
            Some("TestResult") => {
                let mut i = match test_result(&row, line, side) {
                    Ok(i) => i,
                    Err(e) => {
                        out.problem(e);
                        continue;
                    }
                };
                let key = (scope_key(&i.scope), i.protocol.clone());
                if let Some(l) = pending.remove(&key) {
                    i.latency = l.latency;
                }
                if side == Side::Server && !seen_keys.contains(&key) {
                    i.partial = true;
                    seen_keys.push(key);
                }
                out.intervals.push(i);
            }
            Some("LatencyResult") => match latency_result(&row, line, side) {
                Ok((i, reordered)) => {
                    out.latency_rows_reordered += usize::from(reordered);
                    if side == Side::Server {
                        let key = (scope_key(&i.scope), i.protocol.clone());
                        if let Some(old) = pending.insert(key, i) {
                            out.intervals.push(old);
                        }
                    } else {
                        out.intervals.push(i);
                    }
                }
                Err(e) => out.problem(e),
            },
            Some("ERROR") => out.errors.add(row.message.as_deref().unwrap_or("").trim()),
            Some("INFO") => {
                // The client logs its console lines (per-stream and [SUM] rows) as INFO.
                text_rows.line(row.message.as_deref().unwrap_or(""), line, &mut out);
            }
            _ => out.info_lines += 1,
        }
    }
    // Latency rows never joined by a TestResult (the client's, the server's last).
    let mut rest: Vec<Interval> = pending.into_values().collect();
    rest.sort_by_key(|i| i.line);
    out.intervals.extend(rest);
    out.intervals.sort_by_key(|i| i.line);
    // The client's totals come from its TestResult rows; the per-stream rows from INFO.
    out.streams = text_rows.streams;
    out
}

/// Parses ethr's console text. Never fails: unusable lines are counted.
pub fn parse_console(text: &str, side: Side) -> EthrOutput {
    let mut out = EthrOutput::new(side);
    let mut rows = TextParser::default();
    for (index, raw) in text.lines().enumerate() {
        rows.line(raw, index + 1, &mut out);
    }
    let TextParser {
        streams,
        sums,
        totals,
        ..
    } = rows;
    // Aggregates: [SUM] rows when printed, otherwise the streams added up per interval
    // (with one stream, its own rows).
    let mut aggregates = if !sums.is_empty() {
        sums
    } else {
        add_up_streams(&streams)
    };
    aggregates.extend(totals);
    aggregates.sort_by_key(|i| i.line);
    out.intervals = aggregates;
    out.streams = streams;
    out
}

fn add_up_streams(streams: &[Interval]) -> Vec<Interval> {
    let mut by_span: BTreeMap<(u32, u32), Interval> = BTreeMap::new();
    for s in streams {
        let Some(span) = s.span else { continue };
        let total = by_span.entry(span).or_insert_with(|| {
            let mut t = Interval::new(s.line, Scope::Total, &s.protocol);
            t.span = Some(span);
            t
        });
        for (sum, v) in [
            (&mut total.bits_per_second, s.bits_per_second),
            (&mut total.packets_per_second, s.packets_per_second),
            (&mut total.connections_per_second, s.connections_per_second),
        ] {
            if let Some(v) = v {
                *sum = Some(sum.unwrap_or(0.0) + v);
            }
        }
    }
    by_span.into_values().collect()
}

fn scope_key(scope: &Scope) -> String {
    match scope {
        Scope::Remote(a) => a.clone(),
        other => format!("{other:?}"),
    }
}

/// One line of the JSON log; every value is a string in ethr v1.0.0.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRow {
    time: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    message: Option<String>,
    remote_addr: Option<String>,
    protocol: Option<String>,
    bits_per_second: Option<String>,
    connections_per_second: Option<String>,
    packets_per_second: Option<String>,
    average_latency: Option<String>,
    avg: Option<String>,
    min: Option<String>,
    p50: Option<String>,
    p90: Option<String>,
    p95: Option<String>,
    p99: Option<String>,
    p999: Option<String>,
    p9999: Option<String>,
    max: Option<String>,
}

fn json_scope(row: &RawRow, side: Side) -> Scope {
    match side {
        Side::Server => Scope::Remote(row.remote_addr.clone().unwrap_or_default()),
        Side::Client => Scope::Total,
    }
}

fn si_field(
    value: &Option<String>,
    field: &'static str,
    line: usize,
) -> Result<Option<f64>, EthrError> {
    parse_si(value.as_deref().unwrap_or("")).map_err(|source| EthrError::BadValue {
        line,
        field,
        source,
    })
}

fn latency_field(
    value: &Option<String>,
    field: &'static str,
    line: usize,
) -> Result<f64, EthrError> {
    parse_latency_us(value.as_deref().unwrap_or(""))
        .map_err(|source| EthrError::BadValue {
            line,
            field,
            source,
        })?
        .ok_or(EthrError::MissingField { line, field })
}

fn test_result(row: &RawRow, line: usize, side: Side) -> Result<Interval, EthrError> {
    let protocol = row.protocol.as_deref().ok_or(EthrError::MissingField {
        line,
        field: "Protocol",
    })?;
    let mut i = Interval::new(line, json_scope(row, side), protocol);
    i.time = row.time.clone();
    i.bits_per_second = si_field(&row.bits_per_second, "BitsPerSecond", line)?;
    i.packets_per_second = si_field(&row.packets_per_second, "PacketsPerSecond", line)?;
    i.connections_per_second = si_field(&row.connections_per_second, "ConnectionsPerSecond", line)?;
    i.average_latency_us =
        parse_latency_us(row.average_latency.as_deref().unwrap_or("")).map_err(|source| {
            EthrError::BadValue {
                line,
                field: "AverageLatency",
                source,
            }
        })?;
    Ok(i)
}

/// A `LatencyResult` row, with ethr v1.0.0's rotated fields put back (second value true
/// when they were).
fn latency_result(row: &RawRow, line: usize, side: Side) -> Result<(Interval, bool), EthrError> {
    let protocol = row.protocol.as_deref().ok_or(EthrError::MissingField {
        line,
        field: "Protocol",
    })?;
    let f = |v: &Option<String>, name| latency_field(v, name, line);
    let (avg, min) = (f(&row.avg, "Avg")?, f(&row.min, "Min")?);
    let (p50, p90, p95) = (
        f(&row.p50, "P50")?,
        f(&row.p90, "P90")?,
        f(&row.p95, "P95")?,
    );
    let (p99, p999, p9999) = (
        f(&row.p99, "P99")?,
        f(&row.p999, "P999")?,
        f(&row.p9999, "P9999")?,
    );
    let max = f(&row.max, "Max")?;
    // A true median is never above the 90th percentile nor above the maximum.
    let rotated = p50 > p90 || p50 > max;
    let latency = if rotated {
        Latency {
            avg_us: avg,
            min_us: min,
            p50_us: p90,
            p90_us: p95,
            p95_us: p99,
            p99_us: p999,
            p999_us: p9999,
            p9999_us: max,
            max_us: p50,
        }
    } else {
        Latency {
            avg_us: avg,
            min_us: min,
            p50_us: p50,
            p90_us: p90,
            p95_us: p95,
            p99_us: p99,
            p999_us: p999,
            p9999_us: p9999,
            max_us: max,
        }
    };
    let mut i = Interval::new(line, json_scope(row, side), protocol);
    i.time = row.time.clone();
    i.average_latency_us = Some(avg);
    i.latency = Some(latency);
    Ok((i, rotated))
}

/// Column of a console table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Bits,
    Packets,
    Connections,
    AvgLatency,
    Ignored,
}

/// Column of the latency table (`Avg Min 50% 90% … Max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LatencyColumn {
    Avg,
    Min,
    P50,
    P90,
    P95,
    P99,
    P999,
    P9999,
    Max,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Layout {
    /// No header seen yet.
    #[default]
    Unknown,
    /// Client rows: `[ id ]  proto  000-001 sec  values…` (the id is optional).
    Client(Vec<Column>),
    /// Server rows: `[remote]  proto  values…`.
    Server(Vec<Column>),
    /// Latency rows: one duration per column.
    Latency(Vec<LatencyColumn>),
}

/// The console parser's state: the last header decides what the next rows mean.
#[derive(Default)]
struct TextParser {
    layout: Layout,
    seen_remote: Vec<(String, String)>,
    streams: Vec<Interval>,
    sums: Vec<Interval>,
    totals: Vec<Interval>,
}

impl TextParser {
    fn line(&mut self, raw: &str, line: usize, out: &mut EthrOutput) {
        let text = raw.trim();
        if text.is_empty() {
            return;
        }
        if text.starts_with("Error") {
            out.errors.add(text);
            return;
        }
        if let Some(layout) = header(text) {
            self.layout = layout;
            out.info_lines += 1;
            return;
        }
        match self.row(text, line) {
            Ok(Some(i)) => match i.scope {
                Scope::Stream(_) => self.streams.push(i),
                Scope::Sum => self.sums.push(i),
                Scope::Remote(_) | Scope::Total => self.totals.push(i),
            },
            Ok(None) => out.info_lines += 1,
            Err(e) => out.problem(e),
        }
    }

    /// `Ok(None)` when the line is not a result row (a banner, a separator, a hint).
    fn row(&mut self, text: &str, line: usize) -> Result<Option<Interval>, EthrError> {
        let (bracket, rest) = split_bracket(text);
        let tokens: Vec<&str> = rest.split_whitespace().collect();
        match self.layout.clone() {
            Layout::Unknown => Ok(None),
            Layout::Latency(columns) => {
                if bracket.is_some() || !tokens.iter().all(|t| looks_like_duration(t)) {
                    return Ok(None);
                }
                latency_row(&tokens, &columns, line).map(Some)
            }
            Layout::Client(columns) => {
                // [id] PROTO 000-001 sec values…
                let [proto, span, sec, values @ ..] = tokens.as_slice() else {
                    return Ok(None);
                };
                if !is_protocol(proto) || *sec != "sec" {
                    return Ok(None);
                }
                let Some(span) = parse_span(span) else {
                    return Ok(None);
                };
                let scope = match bracket.map(str::trim) {
                    None => Scope::Total,
                    Some("SUM") => Scope::Sum,
                    Some(id) => match id.parse() {
                        Ok(n) => Scope::Stream(n),
                        Err(_) => return Ok(None),
                    },
                };
                let mut i = Interval::new(line, scope, proto);
                i.span = Some(span);
                fill(&mut i, values, &columns, line)?;
                Ok(Some(i))
            }
            Layout::Server(columns) => {
                let (Some(remote), [proto, values @ ..]) = (bracket, tokens.as_slice()) else {
                    return Ok(None);
                };
                if !is_protocol(proto) {
                    return Ok(None);
                }
                let remote = remote.trim().to_string();
                let mut i = Interval::new(line, Scope::Remote(remote.clone()), proto);
                fill(&mut i, values, &columns, line)?;
                let key = (remote, proto.to_string());
                if !self.seen_remote.contains(&key) {
                    i.partial = true;
                    self.seen_remote.push(key);
                }
                Ok(Some(i))
            }
        }
    }
}

/// Recognises a table header and returns the layout of the rows under it.
fn header(text: &str) -> Option<Layout> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if text.starts_with("[RemoteAddress]") {
        let at = tokens.iter().position(|t| *t == "Proto")?;
        return Some(Layout::Server(
            tokens[at + 1..].iter().map(|t| column(t)).collect(),
        ));
    }
    if let Some(at) = tokens.iter().position(|t| *t == "Interval") {
        let columns: Vec<Column> = tokens[at + 1..].iter().map(|t| column(t)).collect();
        if !columns.is_empty() && columns.iter().all(|c| *c != Column::Ignored) {
            return Some(Layout::Client(columns));
        }
        return None;
    }
    if tokens.first() == Some(&"Avg") {
        let columns: Option<Vec<LatencyColumn>> = tokens
            .iter()
            .map(|t| {
                Some(match *t {
                    "Avg" => LatencyColumn::Avg,
                    "Min" => LatencyColumn::Min,
                    "50%" => LatencyColumn::P50,
                    "90%" => LatencyColumn::P90,
                    "95%" => LatencyColumn::P95,
                    "99%" => LatencyColumn::P99,
                    "99.9%" => LatencyColumn::P999,
                    "99.99%" => LatencyColumn::P9999,
                    "Max" => LatencyColumn::Max,
                    _ => return None,
                })
            })
            .collect();
        return columns.map(Layout::Latency);
    }
    None
}

fn column(name: &str) -> Column {
    match name {
        "Bits/s" => Column::Bits,
        "Pkts/s" | "Pkt/s" => Column::Packets,
        "Conn/s" => Column::Connections,
        "Latency" => Column::AvgLatency,
        _ => Column::Ignored,
    }
}

/// `[ content ] rest` → (Some(content), rest); otherwise (None, text).
fn split_bracket(text: &str) -> (Option<&str>, &str) {
    if let Some(inner) = text.strip_prefix('[') {
        if let Some(end) = inner.find(']') {
            return (Some(&inner[..end]), &inner[end + 1..]);
        }
    }
    (None, text)
}

fn is_protocol(token: &str) -> bool {
    matches!(token, "TCP" | "UDP" | "ICMP" | "HTTP" | "HTTPS")
}

/// `000-001` → (0, 1).
fn parse_span(token: &str) -> Option<(u32, u32)> {
    let (a, b) = token.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn looks_like_duration(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_digit()) && token.ends_with('s')
}

fn fill(
    i: &mut Interval,
    values: &[&str],
    columns: &[Column],
    line: usize,
) -> Result<(), EthrError> {
    if values.len() != columns.len() {
        return Err(EthrError::ColumnCount {
            line,
            expected: columns.len(),
            found: values.len(),
        });
    }
    for (value, column) in values.iter().zip(columns) {
        let bad = |field| {
            move |source| EthrError::BadValue {
                line,
                field,
                source,
            }
        };
        match column {
            Column::Bits => i.bits_per_second = parse_si(value).map_err(bad("Bits/s"))?,
            Column::Packets => i.packets_per_second = parse_si(value).map_err(bad("Pkts/s"))?,
            Column::Connections => {
                i.connections_per_second = parse_si(value).map_err(bad("Conn/s"))?
            }
            Column::AvgLatency => {
                i.average_latency_us = parse_latency_us(value).map_err(bad("Latency"))?
            }
            Column::Ignored => {}
        }
    }
    Ok(())
}

fn latency_row(
    tokens: &[&str],
    columns: &[LatencyColumn],
    line: usize,
) -> Result<Interval, EthrError> {
    if tokens.len() != columns.len() {
        return Err(EthrError::ColumnCount {
            line,
            expected: columns.len(),
            found: tokens.len(),
        });
    }
    let mut l = Latency {
        avg_us: f64::NAN,
        min_us: f64::NAN,
        p50_us: f64::NAN,
        p90_us: f64::NAN,
        p95_us: f64::NAN,
        p99_us: f64::NAN,
        p999_us: f64::NAN,
        p9999_us: f64::NAN,
        max_us: f64::NAN,
    };
    for (token, column) in tokens.iter().zip(columns) {
        let v = parse_latency_us(token)
            .map_err(|source| EthrError::BadValue {
                line,
                field: "latency",
                source,
            })?
            .ok_or(EthrError::MissingField {
                line,
                field: "latency",
            })?;
        let slot = match column {
            LatencyColumn::Avg => &mut l.avg_us,
            LatencyColumn::Min => &mut l.min_us,
            LatencyColumn::P50 => &mut l.p50_us,
            LatencyColumn::P90 => &mut l.p90_us,
            LatencyColumn::P95 => &mut l.p95_us,
            LatencyColumn::P99 => &mut l.p99_us,
            LatencyColumn::P999 => &mut l.p999_us,
            LatencyColumn::P9999 => &mut l.p9999_us,
            LatencyColumn::Max => &mut l.max_us,
        };
        *slot = v;
    }
    // The console prints no protocol on latency lines; ethr measures latency over TCP.
    let mut i = Interval::new(line, Scope::Total, "TCP");
    i.average_latency_us = Some(l.avg_us);
    i.latency = Some(l);
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn si_values() {
        assert!(close(parse_si("34.15G").unwrap().unwrap(), 34.15e9));
        assert!(close(parse_si("34.2G").unwrap().unwrap(), 34.2e9));
        assert!(close(parse_si("472.89K").unwrap().unwrap(), 472_890.0));
        assert!(close(parse_si("1.2M").unwrap().unwrap(), 1.2e6));
        assert!(close(parse_si("143.62M").unwrap().unwrap(), 143.62e6));
        assert_eq!(parse_si("0").unwrap(), Some(0.0));
        assert_eq!(parse_si("--  ").unwrap(), None);
        assert_eq!(parse_si("").unwrap(), None);
        assert!(matches!(parse_si("12X"), Err(ValueError::UnknownSuffix(_))));
        assert!(matches!(parse_si("G"), Err(ValueError::NotANumber(_))));
        assert!(matches!(parse_si("-1G"), Err(ValueError::NotANumber(_))));
        assert!(matches!(parse_si("1.2.3G"), Err(ValueError::NotANumber(_))));
        assert!(parse_si("NaN").is_err());
    }

    #[test]
    fn latency_values() {
        assert!(close(
            parse_latency_us("44.359us").unwrap().unwrap(),
            44.359
        ));
        assert!(close(parse_latency_us("1.5ms").unwrap().unwrap(), 1500.0));
        assert!(close(parse_latency_us("2s").unwrap().unwrap(), 2e6));
        assert!(close(parse_latency_us("500ns").unwrap().unwrap(), 0.5));
        assert_eq!(parse_latency_us("0").unwrap(), Some(0.0));
        assert_eq!(parse_latency_us("--  ").unwrap(), None);
        assert!(parse_latency_us("12parsecs").is_err());
        assert!(parse_latency_us("12").is_err());
    }

    #[test]
    fn garbage_is_counted_not_fatal() {
        let log = "not json\n{\"Type\":\"TestResult\",\"RemoteAddr\":\"127.0.0.1\",\"Protocol\":\"TCP\",\"BitsPerSecond\":\"1.5Q\"}\n{\"Type\":\"TestResult\",\"RemoteAddr\":\"127.0.0.1\",\"Protocol\":\"TCP\",\"BitsPerSecond\":\"2G\",\"PacketsPerSecond\":\"--  \"}\n";
        let out = parse_log(log, Side::Server);
        assert_eq!(out.problem_count, 2);
        assert_eq!(out.problems[0].line(), 1);
        assert_eq!(out.problems[1].line(), 2);
        assert!(out.problems[1].to_string().contains("BitsPerSecond"));
        assert_eq!(out.intervals.len(), 1);
        assert!(out.intervals[0].partial);
        assert_eq!(
            out.to_samples(3),
            vec![Sample {
                run: 3,
                second: 1,
                bits_per_second: 2e9,
                packets_per_second: None
            }]
        );
    }

    #[test]
    fn wrong_column_count_is_a_problem() {
        let text = "[RemoteAddress]  Proto   Bits/s   Conn/s    Pkt/s   Latency\n[    127.0.0.1]    TCP    1.09G        1     --\n";
        let out = parse_console(text, Side::Server);
        assert!(out.intervals.is_empty());
        assert!(matches!(
            out.problems[0],
            EthrError::ColumnCount {
                line: 2,
                expected: 4,
                found: 3
            }
        ));
    }

    #[test]
    fn empty_server_log_explains_itself() {
        let log = "{\"Type\":\"ERROR\",\"Message\":\"accept4: too many open files\"}\n";
        let e = samples_from_server_log(log, 1).unwrap_err().to_string();
        assert!(e.contains("too many open files"), "{e}");
    }
}
