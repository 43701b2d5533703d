//! A hook that closes stdin without reading must not kill a runtime that did not
//! ignore SIGPIPE. Alone in its binary: it changes the process's SIGPIPE disposition.

use hooks::{run_hook, Hook, HookKind};

fn sigset_has_sigpipe(set: &libc::sigset_t) -> bool {
    // SAFETY: reads a sigset filled in by the kernel.
    unsafe { libc::sigismember(set, libc::SIGPIPE) == 1 }
}

#[test]
fn epipe_on_stdin_neither_kills_nor_leaves_a_pending_sigpipe() {
    // SAFETY: sets a default disposition; no handler code involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };

    let mut h = Hook::default();
    h.set_path("/bin/sh".into());
    // Closes stdin and stays alive: the runtime's writes must hit EPIPE.
    h.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "exec 0<&-; exec sleep 1".into(),
    ]));
    let state = vec![b'z'; 1 << 20];
    run_hook(HookKind::CreateRuntime, 0, &h, &state).unwrap();

    // SAFETY: plain data filled in by the calls.
    let (mut pending, mut mask): (libc::sigset_t, libc::sigset_t) = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to local sigsets.
    unsafe {
        libc::sigpending(&mut pending);
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
    }
    assert!(!sigset_has_sigpipe(&pending), "a SIGPIPE was left pending");
    assert!(!sigset_has_sigpipe(&mask), "SIGPIPE left blocked");
}
