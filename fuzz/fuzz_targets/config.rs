//! config.json bytes through the runtime's loading and validation (`bundle::check_config`),
//! as the config of a bundle with an empty rootfs dir. Any bytes must give a checked bundle or
//! a one-line error naming the field at fault; a panic, a hang (libFuzzer's -timeout) or an
//! error naming nothing is a finding.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// A bundle dir with an empty `rootfs`, made once (the only thing the target writes).
fn bundle_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("gantry-fuzz-bundle-{}", std::process::id()));
        std::fs::create_dir_all(d.join("rootfs")).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    if let Err(e) = gantry::bundle::check_config(bundle_dir(), data) {
        let text = e.to_string();
        assert!(e.field().is_some(), "an error naming no field: {text}");
        assert!(!text.contains('\n'), "an error of more than one line: {text:?}");
    }
});
