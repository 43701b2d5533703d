//! --log with --log-format json: the lines containerd and conmon parse.

use gantry_tests::*;

#[test]
fn json_log_lines_for_errors() {
    let rt = Rt::new();
    let dir = TempDir::new("log");
    let log = dir.path().join("log.json");
    let o = rt
        .cmd()
        .args([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "start",
            "no-such-container",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    let msg = last["msg"].as_str().unwrap();
    assert!(msg.contains("does not exist"), "{text}");
    if is_gantry() {
        assert!(msg.contains("no-such-container"), "{text}");
    }
    assert!(last["time"].is_string());
}
