//! The summary as one JSON document, for `--json` on stdout: the test, the sentences a
//! person reads, and every number of the analysis.

use serde::Serialize;

use crate::model::TestInfo;
use crate::stats::Analysis;

/// What `--json` prints.
#[derive(Debug, Serialize)]
pub struct JsonSummary<'a> {
    pub test: &'a TestInfo,
    pub verdict: String,
    pub bottleneck: Vec<String>,
    pub analysis: &'a Analysis,
}

/// Pretty-printed JSON, ending with a newline. NaN and infinities become `null`.
pub fn summary_json(info: &TestInfo, analysis: &Analysis) -> anyhow::Result<String> {
    let doc = JsonSummary {
        test: info,
        verdict: analysis.verdict_sentence(),
        bottleneck: analysis.bottleneck_sentences(),
        analysis,
    };
    let mut s = serde_json::to_string_pretty(&doc)?;
    s.push('\n');
    Ok(s)
}
