//! Captured hook output, bounded so that a chatty hook cannot make the runtime grow.

/// Bytes kept per stream: the tail, where a failing program usually says why.
pub const OUTPUT_LIMIT: usize = 4096;

/// What a hook wrote on stdout and stderr (at most the last [`OUTPUT_LIMIT`] bytes of each).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl HookOutput {
    /// A one-line summary for error messages: each non-empty stream, lossily decoded,
    /// trimmed, line breaks folded into "; ", stderr labelled when stdout is there too.
    pub fn summary(&self) -> String {
        let fold = |text: &[u8]| {
            String::from_utf8_lossy(text)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        };
        match (fold(&self.stdout), fold(&self.stderr)) {
            (out, err) if out.is_empty() => err,
            (out, err) if err.is_empty() => out,
            (out, err) => format!("stdout: {out}; stderr: {err}"),
        }
    }
}

/// Appends to `buf` and keeps only its last [`OUTPUT_LIMIT`] bytes.
pub(crate) fn push_bounded(buf: &mut Vec<u8>, data: &[u8]) {
    if data.len() >= OUTPUT_LIMIT {
        buf.clear();
        buf.extend_from_slice(&data[data.len() - OUTPUT_LIMIT..]);
        return;
    }
    buf.extend_from_slice(data);
    if buf.len() > OUTPUT_LIMIT {
        buf.drain(..buf.len() - OUTPUT_LIMIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_tail() {
        let mut buf = Vec::new();
        push_bounded(&mut buf, &[b'a'; 3000]);
        push_bounded(&mut buf, &[b'b'; 3000]);
        assert_eq!(buf.len(), OUTPUT_LIMIT);
        assert!(buf.ends_with(&[b'b'; 3000]));
        push_bounded(&mut buf, &[b'c'; 10_000]);
        assert_eq!(buf, vec![b'c'; OUTPUT_LIMIT]);
    }

    #[test]
    fn summary_is_one_line_with_both_streams() {
        let out = HookOutput {
            stdout: b"out\n".to_vec(),
            stderr: b"  first\n\nsecond  \n".to_vec(),
        };
        assert_eq!(out.summary(), "stdout: out; stderr: first; second");
        let out = HookOutput {
            stdout: b"only stdout\n".to_vec(),
            stderr: b"\n".to_vec(),
        };
        assert_eq!(out.summary(), "only stdout");
        let out = HookOutput {
            stdout: Vec::new(),
            stderr: b"only stderr".to_vec(),
        };
        assert_eq!(out.summary(), "only stderr");
        assert_eq!(HookOutput::default().summary(), "");
    }
}
