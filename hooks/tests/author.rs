//! The hook-author helpers that do not fork (see author_ns.rs for the one that does).

mod common;

use common::{Scratch, STATE};
use hooks::author::{init_pid, load_config, read_state, rootfs_path, AuthorError};
use hooks::ContainerState;
use oci_spec::runtime::{Root, Spec};
use std::path::PathBuf;

#[test]
fn read_state_parses_the_runtime_state() {
    let state = read_state(STATE.as_bytes()).unwrap();
    assert_eq!(state.id(), "c1");
    assert_eq!(*state.status(), ContainerState::Created);
    assert_eq!(*state.pid(), Some(4242));
    assert_eq!(state.bundle(), &PathBuf::from("/tmp/bundle"));
}

#[test]
fn read_state_rejects_bad_json() {
    let err = read_state(&b"{\"id\": "[..]).unwrap_err();
    assert!(matches!(err, AuthorError::State(_)));
    assert!(
        err.to_string().starts_with("invalid OCI state JSON: "),
        "{err}"
    );
}

#[test]
fn init_pid_requires_a_positive_pid() {
    let mut state = read_state(STATE.as_bytes()).unwrap();
    assert_eq!(init_pid(&state).unwrap(), 4242);
    state.set_pid(None);
    assert!(matches!(init_pid(&state), Err(AuthorError::NoPid)));
    state.set_pid(Some(0));
    assert!(matches!(init_pid(&state), Err(AuthorError::InvalidPid(0))));
    state.set_pid(Some(-3));
    assert!(matches!(init_pid(&state), Err(AuthorError::InvalidPid(-3))));
}

#[test]
fn load_config_reads_the_bundle_and_rootfs_resolves_against_it() {
    let bundle = Scratch::new();
    let mut spec = Spec::default();
    spec.set_hostname(Some("from-config".into()));
    spec.save(bundle.path("config.json")).unwrap();
    let mut state = read_state(STATE.as_bytes()).unwrap();
    state.set_bundle(bundle.0.clone());

    let loaded = load_config(&state).unwrap();
    assert_eq!(loaded.hostname().as_deref(), Some("from-config"));
    // Spec::default() has root.path = "rootfs": relative, so under the bundle.
    assert_eq!(rootfs_path(&state, &loaded), bundle.path("rootfs"));

    let mut root = Root::default();
    root.set_path("/somewhere/else".into());
    spec.set_root(Some(root));
    assert_eq!(rootfs_path(&state, &spec), PathBuf::from("/somewhere/else"));
}

#[test]
fn load_config_errors_name_the_file() {
    let bundle = Scratch::new();
    let mut state = read_state(STATE.as_bytes()).unwrap();
    state.set_bundle(bundle.0.clone());
    let err = load_config(&state).unwrap_err();
    let want = format!("cannot load {}", bundle.path("config.json").display());
    assert!(err.to_string().starts_with(&want), "{err}");

    state.set_bundle("relative/bundle".into());
    assert!(matches!(
        load_config(&state),
        Err(AuthorError::BundleNotAbsolute(_))
    ));
}
