//! Fully qualified CDI device names (`vendor.com/class=name`) and the rules of their parts.

/// A fully qualified device name: `vendor.com/class=name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualifiedName {
    /// `vendor.com/class`
    pub kind: String,
    pub name: String,
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.kind, self.name)
    }
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// A vendor is a domain-like name (`nvidia.com`, `vendor.example-1.io`).
fn valid_vendor(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("empty vendor".into());
    }
    if !v.starts_with(alnum) || !v.ends_with(alnum) {
        return Err(format!(
            "vendor {v:?} must start and end with a letter or digit"
        ));
    }
    if let Some(c) = v.chars().find(|&c| !(alnum(c) || c == '.' || c == '-')) {
        return Err(format!("vendor {v:?} has the character {c:?}"));
    }
    // A DNS subdomain: at most 253 characters, labels of 1 to 63 that start and end with a
    // letter or digit.
    if v.len() > 253 {
        return Err(format!("vendor {v:?} is longer than 253 characters"));
    }
    for l in v.split('.') {
        if l.is_empty() || l.len() > 63 || !l.starts_with(alnum) || !l.ends_with(alnum) {
            return Err(format!(
                "vendor {v:?}: label {l:?} must be 1 to 63 letters, digits or '-', starting and ending with a letter or digit"
            ));
        }
    }
    Ok(())
}

/// A class (`gpu`, `gpu.shared`): letters, digits, `_`, `-`, `.`, starting with a letter.
fn valid_class(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("empty class".into());
    }
    if !c.starts_with(|x: char| x.is_ascii_alphabetic()) || !c.ends_with(alnum) {
        return Err(format!(
            "class {c:?} must start with a letter and end with a letter or digit"
        ));
    }
    if let Some(x) = c
        .chars()
        .find(|&x| !(alnum(x) || matches!(x, '_' | '-' | '.')))
    {
        return Err(format!("class {c:?} has the character {x:?}"));
    }
    if c.len() > 63 {
        return Err(format!("class {c:?} is longer than 63 characters"));
    }
    Ok(())
}

/// A device name (`0`, `GPU-1234`, `1:0`, `all`): letters, digits, `_`, `-`, `.`, `:`,
/// starting and ending with a letter or digit.
pub fn valid_device_name(n: &str) -> Result<(), String> {
    if n.is_empty() {
        return Err("empty device name".into());
    }
    if !n.starts_with(alnum) || !n.ends_with(alnum) {
        return Err(format!(
            "device name {n:?} must start and end with a letter or digit"
        ));
    }
    if let Some(x) = n
        .chars()
        .find(|&x| !(alnum(x) || matches!(x, '_' | '-' | '.' | ':')))
    {
        return Err(format!("device name {n:?} has the character {x:?}"));
    }
    Ok(())
}

/// A kind: `vendor.com/class`.
pub fn valid_kind(k: &str) -> Result<(), String> {
    let (v, c) = k
        .split_once('/')
        .ok_or_else(|| format!("kind {k:?} is not VENDOR/CLASS"))?;
    valid_vendor(v)?;
    valid_class(c)
}

impl QualifiedName {
    /// Whether `s` looks like a qualified name at all (has `/` before `=`): such a string is
    /// a CDI request, and a malformed one is an error, not a plain GPU id.
    pub fn looks_qualified(s: &str) -> bool {
        s.split_once('=').is_some_and(|(k, _)| k.contains('/'))
    }

    pub fn parse(s: &str) -> Result<QualifiedName, String> {
        let s = s.trim();
        let (kind, name) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not a CDI device name (vendor.com/class=name)"))?;
        valid_kind(kind).map_err(|e| format!("{s:?}: {e}"))?;
        valid_device_name(name).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(QualifiedName {
            kind: kind.into(),
            name: name.into(),
        })
    }
}
