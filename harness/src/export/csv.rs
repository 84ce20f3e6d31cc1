//! `results/<impl>-server.csv`: the per-second receiver-side samples of every run of one
//! implementation, with columns `run,second,bits_per_second,packets_per_second` (the last
//! empty when not measured). Written here, and read back here so a report can be redone
//! from the files alone.

use anyhow::Context;

use crate::model::{Impl, Sample};

/// The column names, in order.
pub const HEADER: [&str; 4] = ["run", "second", "bits_per_second", "packets_per_second"];

/// `c-server.csv`, `rust-server.csv`, `none-server.csv`.
pub fn file_name(implementation: Impl) -> String {
    format!("{}-server.csv", implementation.as_str())
}

/// The CSV bytes of `samples`; the header is written even when there is no sample.
pub fn samples_to_csv(samples: &[Sample]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(HEADER)?;
    for s in samples {
        w.serialize(s)?;
    }
    w.into_inner().context("flushing the CSV writer")
}

/// Reads what [`samples_to_csv`] wrote (columns found by name; extra columns ignored).
/// Errors name the line.
pub fn samples_from_csv(bytes: &[u8]) -> anyhow::Result<Vec<Sample>> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = r.headers().context("reading the CSV header")?.clone();
    for column in HEADER {
        anyhow::ensure!(
            headers.iter().any(|h| h == column),
            "the CSV has no column {column:?} (header: {})",
            headers.iter().collect::<Vec<_>>().join(",")
        );
    }
    let mut out = Vec::new();
    for record in r.deserialize() {
        let sample: Sample = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            anyhow::anyhow!("CSV line {line}: {e}")
        })?;
        out.push(sample);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_row_names_its_line() {
        let e =
            samples_from_csv(b"run,second,bits_per_second,packets_per_second\n1,1,2.5,\n1,x,1,\n")
                .unwrap_err()
                .to_string();
        assert!(e.starts_with("CSV line 3"), "{e}");
        assert!(samples_from_csv(b"run,second\n1,1\n").is_err());
    }
}
