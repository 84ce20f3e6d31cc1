//! The NFQUEUE rule that sends the benchmark's packets to a filter.
//!
//! One type, `NfqueueRule`, that installs the paper's rule in a place (a namespace of ours,
//! or the host with `--host`) and removes exactly that rule on drop. Every rule carries a
//! unique `-m comment` so removal can never hit a rule someone else added.

use std::fmt;

use anyhow::{Context, Result};

use crate::netns::Place;

/// Transport protocol matched by the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// What the rule matches and where it sends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleSpec {
    pub protocol: Protocol,
    pub address: String,
    pub port: u16,
    /// First queue; with `queues > 1` the rule balances over `queue..queue+queues-1`.
    pub queue: u16,
    pub queues: u16,
    /// `--queue-bypass`: accept instead of drop while no program is bound.
    pub bypass: bool,
    /// `--queue-cpu-fanout` (only with several queues).
    pub cpu_fanout: bool,
    /// `iptables` or `iptables-legacy`.
    pub binary: String,
}

impl RuleSpec {
    /// The rule's match and target, without the `-A/-D OUTPUT` part.
    pub fn args(&self, comment: &str) -> Vec<String> {
        let mut a: Vec<String> = [
            "-d",
            &self.address,
            "-p",
            &self.protocol.to_string(),
            "--dport",
            &self.port.to_string(),
            "-m",
            "comment",
            "--comment",
            comment,
            "-j",
            "NFQUEUE",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.queues > 1 {
            let last = u32::from(self.queue) + u32::from(self.queues) - 1;
            a.push("--queue-balance".into());
            a.push(format!("{}:{last}", self.queue));
            if self.cpu_fanout {
                a.push("--queue-cpu-fanout".into());
            }
        } else {
            a.push("--queue-num".into());
            a.push(self.queue.to_string());
        }
        if self.bypass {
            a.push("--queue-bypass".into());
        }
        a
    }

    /// The full command line that installs the rule, for `--dry-run` and run.json.
    pub fn install_command(&self, comment: &str) -> String {
        format!("{} -A OUTPUT {}", self.binary, self.args(comment).join(" "))
    }
}

/// An installed rule; removed (exactly this one, by its comment) on drop.
pub struct NfqueueRule<'p> {
    place: &'p dyn Place,
    spec: RuleSpec,
    comment: String,
    installed: bool,
}

impl<'p> NfqueueRule<'p> {
    pub fn install(place: &'p dyn Place, spec: RuleSpec, comment: String) -> Result<Self> {
        let mut args = vec!["-A".to_string(), "OUTPUT".to_string()];
        args.extend(spec.args(&comment));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        place.run(&spec.binary, &refs).with_context(|| {
            format!(
                "cannot install the NFQUEUE rule in the {}",
                place.describe()
            )
        })?;
        Ok(NfqueueRule {
            place,
            spec,
            comment,
            installed: true,
        })
    }

    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// Removes the rule now, reporting failure (drop only warns).
    pub fn remove(mut self) -> Result<()> {
        self.remove_inner()
    }

    fn remove_inner(&mut self) -> Result<()> {
        if !self.installed {
            return Ok(());
        }
        self.installed = false;
        remove_by_comment(self.place, &self.spec.binary, &self.comment)
    }
}

impl Drop for NfqueueRule<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.remove_inner() {
            eprintln!(
                "warning: could not remove the NFQUEUE rule {}: {e:#}",
                self.comment
            );
        }
    }
}

/// Deletes every OUTPUT rule whose comment is exactly `comment`.
pub fn remove_by_comment(place: &dyn Place, binary: &str, comment: &str) -> Result<()> {
    for rule in rules_with_comment(place, binary, |c| c == comment)? {
        let mut args = vec!["-D".to_string(), "OUTPUT".to_string()];
        args.extend(rule);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        place.run(binary, &refs)?;
    }
    Ok(())
}

/// OUTPUT rules (as `-S` argument lists after `-A OUTPUT`) whose comment passes `keep`.
pub fn rules_with_comment(
    place: &dyn Place,
    binary: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<Vec<String>>> {
    let listing = place.run(binary, &["-S", "OUTPUT"])?;
    Ok(listing
        .lines()
        .filter_map(|line| line.strip_prefix("-A OUTPUT "))
        .map(split_rule)
        .filter(|args| comment_of(args).is_some_and(&keep))
        .collect())
}

/// Existing OUTPUT rules that send to `queue` (host mode refuses to start over them).
pub fn rules_on_queue(place: &dyn Place, binary: &str, queue: u16) -> Result<Vec<String>> {
    let listing = place.run(binary, &["-S", "OUTPUT"])?;
    let q = queue.to_string();
    Ok(listing
        .lines()
        .filter(|l| l.contains("NFQUEUE"))
        .filter(|l| {
            let args = split_rule(l);
            args.windows(2).any(|w| {
                (w[0] == "--queue-num" && w[1] == q)
                    || (w[0] == "--queue-balance" && balance_contains(&w[1], queue))
            }) || (!l.contains("--queue-") && queue == 0)
        })
        .map(str::to_string)
        .collect())
}

fn balance_contains(range: &str, queue: u16) -> bool {
    let mut it = range.splitn(2, ':').map(|x| x.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b))) => (a..=b).contains(&queue),
        _ => false,
    }
}

/// Splits one `iptables -S` line into arguments, honouring double quotes.
fn split_rule(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for ch in line.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn comment_of(args: &[String]) -> Option<&str> {
    args.windows(2)
        .find(|w| w[0] == "--comment")
        .map(|w| w[1].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RuleSpec {
        RuleSpec {
            protocol: Protocol::Tcp,
            address: "127.0.0.1".into(),
            port: 9999,
            queue: 0,
            queues: 1,
            bypass: false,
            cpu_fanout: false,
            binary: "iptables".into(),
        }
    }

    #[test]
    fn paper_rule() {
        assert_eq!(
            spec().install_command("nfqb-1"),
            "iptables -A OUTPUT -d 127.0.0.1 -p tcp --dport 9999 -m comment --comment nfqb-1 -j NFQUEUE --queue-num 0"
        );
    }

    #[test]
    fn balanced_rule() {
        let s = RuleSpec {
            queues: 4,
            queue: 2,
            cpu_fanout: true,
            bypass: true,
            ..spec()
        };
        assert!(s
            .install_command("c")
            .ends_with("-j NFQUEUE --queue-balance 2:5 --queue-cpu-fanout --queue-bypass"));
    }

    #[test]
    fn splits_iptables_s_output() {
        let l = r#"-d 127.0.0.1/32 -p tcp -m tcp --dport 9999 -m comment --comment "nfqb run 1" -j NFQUEUE --queue-num 0"#;
        let a = split_rule(l);
        assert_eq!(comment_of(&a), Some("nfqb run 1"));
        assert_eq!(a.last().unwrap(), "0");
        assert!(balance_contains("0:3", 2));
        assert!(!balance_contains("0:3", 4));
    }
}
