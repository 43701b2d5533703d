//! NVIDIA_REQUIRE_* checks, with NVIDIA's syntax: in one variable, space-separated constraints
//! are ORed and comma-separated ones ANDed (`cuda>=12.4 brand=tesla,driver>=470,driver<471`);
//! every variable must hold. Keys: cuda, driver (versions), arch (compute capability), brand.

use std::cmp::Ordering;

/// What the constraints are checked against.
#[derive(Debug, Default)]
pub struct Facts {
    pub cuda: Option<String>,
    pub driver: Option<String>,
    /// (compute capability, brand) of each selected GPU.
    pub gpus: Vec<(Option<String>, Option<String>)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequireError {
    #[error("{var}: cannot parse constraint {constraint:?}")]
    Syntax { var: String, constraint: String },
    #[error("{var}={value:?} is not met by this host ({facts})")]
    Unmet {
        var: String,
        value: String,
        facts: String,
    },
}

const OPS: [&str; 7] = [">=", "<=", "!=", "==", "=", ">", "<"];

fn version_cmp(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (a, b) = (parts(a), parts(b));
    for i in 0..a.len().max(b.len()) {
        let o = a.get(i).unwrap_or(&0).cmp(b.get(i).unwrap_or(&0));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn holds(op: &str, ord: Ordering) -> bool {
    match op {
        ">=" => ord != Ordering::Less,
        "<=" => ord != Ordering::Greater,
        ">" => ord == Ordering::Greater,
        "<" => ord == Ordering::Less,
        "!=" => ord != Ordering::Equal,
        _ => ord == Ordering::Equal,
    }
}

/// One `key OP value`. A fact the host cannot tell (no CUDA version without NVML) does not
/// refuse the container: it is reported in `unknown`.
fn constraint(
    var: &str,
    c: &str,
    f: &Facts,
    unknown: &mut Vec<String>,
) -> Result<bool, RequireError> {
    let syntax = || RequireError::Syntax {
        var: var.into(),
        constraint: c.into(),
    };
    let (at, op) = OPS
        .iter()
        .filter_map(|op| c.find(op).map(|i| (i, *op)))
        .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))
        .ok_or_else(syntax)?;
    let key = c[..at].trim().to_ascii_lowercase();
    let want = c[at + op.len()..].trim();
    if want.is_empty() {
        return Err(syntax());
    }
    let version = |have: &Option<String>, unknown: &mut Vec<String>| match have {
        Some(h) => holds(op, version_cmp(h, want)),
        None => {
            unknown.push(c.to_string());
            true
        }
    };
    if matches!(key.as_str(), "arch" | "brand") && f.gpus.is_empty() {
        // NVIDIA_VISIBLE_DEVICES=none: no GPU to hold it, so it is not checked (said in the
        // plan's notes), rather than silently "met" by an empty list.
        unknown.push(format!("{c} (no GPU selected)"));
        return Ok(true);
    }
    Ok(match key.as_str() {
        "cuda" => version(&f.cuda, unknown),
        "driver" => version(&f.driver, unknown),
        "arch" => f.gpus.iter().all(|(cc, _)| version(cc, unknown)),
        "brand" => f.gpus.iter().all(|(_, b)| match b {
            Some(b) => holds(
                op,
                if b.eq_ignore_ascii_case(want) {
                    Ordering::Equal
                } else {
                    Ordering::Less
                },
            ),
            None => {
                unknown.push(c.to_string());
                true
            }
        }),
        _ => return Err(syntax()),
    })
}

/// Checks every requirement; returns the constraints that could not be checked.
pub fn check(reqs: &[(String, String)], f: &Facts) -> Result<Vec<String>, RequireError> {
    let mut unknown = Vec::new();
    for (var, value) in reqs {
        let mut any = value.split_whitespace().next().is_none();
        for alt in value.split_whitespace() {
            let mut all = true;
            for c in alt.split(',').filter(|c| !c.is_empty()) {
                all &= constraint(var, c, f, &mut unknown)?;
            }
            any |= all;
        }
        if !any {
            return Err(RequireError::Unmet {
                var: var.clone(),
                value: value.clone(),
                facts: format!(
                    "driver {}, cuda {}, GPUs {:?}",
                    f.driver.as_deref().unwrap_or("unknown"),
                    f.cuda.as_deref().unwrap_or("unknown"),
                    f.gpus
                ),
            });
        }
    }
    Ok(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            cuda: Some("12.4".into()),
            driver: Some("550.54.14".into()),
            gpus: vec![(Some("8.0".into()), Some("tesla".into()))],
        }
    }

    fn ok(v: &str) -> bool {
        check(&[("NVIDIA_REQUIRE_CUDA".into(), v.into())], &facts()).is_ok()
    }

    #[test]
    fn versions_and_alternatives() {
        assert!(ok("cuda>=12.0"));
        assert!(!ok("cuda>=12.5"));
        assert!(ok("cuda>=13.0 brand=tesla,driver>=550,driver<551"));
        assert!(!ok("cuda>=13.0 brand=tesla,driver>=470,driver<471"));
        assert!(ok("arch>=7.5"));
        assert!(!ok("arch=9.0"));
        assert!(ok("driver>550.54.9"), "versions compare numerically");
        assert!(ok("brand!=geforce"));
    }

    #[test]
    fn bad_syntax_is_an_error_and_unknown_facts_are_reported() {
        assert!(matches!(
            check(&[("NVIDIA_REQUIRE_X".into(), "cuda~12".into())], &facts()),
            Err(RequireError::Syntax { .. })
        ));
        let f = Facts {
            cuda: None,
            ..facts()
        };
        let u = check(&[("NVIDIA_REQUIRE_CUDA".into(), "cuda>=12.0".into())], &f).unwrap();
        assert_eq!(u, vec!["cuda>=12.0"]);
        let none = Facts {
            gpus: vec![],
            ..facts()
        };
        let u = check(
            &[("NVIDIA_REQUIRE_BRAND".into(), "brand=geforce".into())],
            &none,
        )
        .unwrap();
        assert_eq!(u, vec!["brand=geforce (no GPU selected)"]);
    }
}
