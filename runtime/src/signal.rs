//! Signal names and numbers as `kill` accepts them (KILL, SIGKILL, 9, RTMIN+1, and 0: no
//! signal, only the check that the process is there, as kill(2) and runc take it).

use nix::sys::signal::Signal;

pub fn parse(s: &str) -> Result<i32, String> {
    if let Ok(n) = s.parse::<i32>() {
        if n >= 0 && n <= libc::SIGRTMAX() {
            return Ok(n);
        }
        return Err(format!("invalid signal number {n}"));
    }
    let up = s.to_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(off) = name.strip_prefix("RTMIN") {
        let off: i32 = if off.is_empty() {
            0
        } else {
            off.trim_start_matches('+')
                .parse()
                .map_err(|_| format!("invalid signal {s:?}"))?
        };
        let n = libc::SIGRTMIN() + off;
        return if n <= libc::SIGRTMAX() {
            Ok(n)
        } else {
            Err(format!("invalid signal {s:?}"))
        };
    }
    if let Some(off) = name.strip_prefix("RTMAX") {
        let off: i32 = if off.is_empty() {
            0
        } else {
            off.trim_start_matches('-')
                .parse()
                .map_err(|_| format!("invalid signal {s:?}"))?
        };
        let n = libc::SIGRTMAX() - off;
        return if n >= libc::SIGRTMIN() {
            Ok(n)
        } else {
            Err(format!("invalid signal {s:?}"))
        };
    }
    format!("SIG{name}")
        .parse::<Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| format!("unknown signal {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("KILL"), Ok(9));
        assert_eq!(parse("SIGKILL"), Ok(9));
        assert_eq!(parse("sigterm"), Ok(15));
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("RTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert!(parse("NOPE").is_err());
        assert_eq!(parse("0"), Ok(0));
        assert!(parse("-1").is_err());
        assert!(parse("1000").is_err());
    }
}
