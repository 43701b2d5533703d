//! runc-compatible logging: `--log FILE` with `--log-format text|json`. containerd's shim and
//! conmon read the last `error` line of this file to report why a command failed, so the json
//! shape (`{"level":"error","msg":"...","time":"..."}`) matters.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

struct Logger {
    file: Option<File>,
    format: LogFormat,
    min: Level,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

/// Set up the global logger. Without a file, warnings and errors go to stderr only.
pub fn init(path: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) => Some(OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    let min = if debug { Level::Debug } else { Level::Info };
    if debug {
        // Each hook's start and end (a long hook otherwise shows nothing until it is done).
        hooks::set_logger(self::debug);
    }
    *LOGGER.lock().unwrap_or_else(|e| e.into_inner()) = Some(Logger { file, format, min });
    Ok(())
}

/// The log file's fd, which a container's init and exec child keep open while they run the
/// runtime's code (they close every other inherited fd).
pub fn raw_fd() -> Option<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    let guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_ref()?.file.as_ref().map(|f| f.as_raw_fd())
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

fn line(format: LogFormat, level: Level, msg: &str) -> String {
    match format {
        LogFormat::Json => {
            serde_json::json!({"level": level.as_str(), "msg": msg, "time": now_rfc3339()})
                .to_string()
        }
        LogFormat::Text => format!(
            "time=\"{}\" level={} msg={}",
            now_rfc3339(),
            level.as_str(),
            serde_json::Value::String(msg.to_string())
        ),
    }
}

/// Write one record to the log file (if any). Errors also go to stderr, as runc does, so that a
/// user at a terminal sees them without a log file.
pub fn log(level: Level, msg: &str) {
    let mut guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if level == Level::Error {
        eprintln!("gantry: {msg}");
    }
    let Some(logger) = guard.as_mut() else { return };
    if level < logger.min {
        return;
    }
    let text = line(logger.format, level, msg);
    if let Some(f) = logger.file.as_mut() {
        let _ = writeln!(f, "{text}");
    } else if level == Level::Warn {
        eprintln!("gantry: warning: {msg}");
    } else if level < Level::Warn && logger.min == Level::Debug {
        // --debug without --log: the debug and info lines on stderr, as runc's.
        eprintln!("{text}");
    }
}

/// Write one record to the log file only (nothing on stderr): for what is reported on
/// stderr another way (clap's usage errors).
pub fn to_file(level: Level, msg: &str) {
    let mut guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(logger) = guard.as_mut() else { return };
    let text = line(logger.format, level, msg);
    if let Some(f) = logger.file.as_mut() {
        let _ = writeln!(f, "{text}");
    }
}

/// A note for the log file only (never stderr): things worth knowing that are not problems.
pub fn info(msg: &str) {
    log(Level::Info, msg)
}
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}
pub fn error(msg: &str) {
    log(Level::Error, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_level_msg_time() {
        let l = line(LogFormat::Json, Level::Error, "bad \"thing\"");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "bad \"thing\"");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn text_line_quotes_msg() {
        let l = line(LogFormat::Text, Level::Warn, "a b");
        assert!(l.contains("level=warning msg=\"a b\""), "{l}");
    }
}
