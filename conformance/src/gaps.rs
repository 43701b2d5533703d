//! The known-gaps file: failures that are known and explained, so they do not fail a run.
//! One entry a line, `RUNTIME_BASENAME CHECK_NAME  # reason`; blank lines and lines starting
//! with `#` are comments.

use std::collections::HashMap;

#[derive(Default)]
pub struct KnownGaps {
    entries: HashMap<(String, String), String>,
}

impl KnownGaps {
    pub fn parse(text: &str) -> Result<KnownGaps, String> {
        let mut entries = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (fields, reason) = line.split_once('#').unwrap_or((line, ""));
            let mut it = fields.split_whitespace();
            match (it.next(), it.next(), it.next()) {
                (Some(rt), Some(check), None) => {
                    entries.insert(
                        (rt.to_string(), check.to_string()),
                        reason.trim().to_string(),
                    );
                }
                _ => return Err(format!("line {}: want `RUNTIME CHECK  # reason`", n + 1)),
            }
        }
        Ok(KnownGaps { entries })
    }

    /// The reason given for `check` failing on `runtime`, if it is a known gap.
    pub fn reason(&self, runtime: &str, check: &str) -> Option<&str> {
        self.entries
            .get(&(runtime.to_string(), check.to_string()))
            .map(String::as_str)
    }

    /// Every entry for `runtime`.
    pub fn for_runtime<'a>(&'a self, runtime: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .keys()
            .filter(move |(r, _)| r == runtime)
            .map(|(_, c)| c.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_comments() {
        let g = KnownGaps::parse("# header\n\ngantry config.x  # not yet\nrunc a.b\n").unwrap();
        assert_eq!(g.reason("gantry", "config.x"), Some("not yet"));
        assert_eq!(g.reason("runc", "a.b"), Some(""));
        assert_eq!(g.reason("crun", "config.x"), None);
        assert!(KnownGaps::parse("gantry\n").is_err());
        assert!(KnownGaps::parse("gantry a b\n").is_err());
    }
}
