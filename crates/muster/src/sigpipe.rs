//! A command whose output is cut short (`muster staffing lint DIR | head -1`) should stop
//! quietly, as `cat` and `grep` do. Rust starts programs with SIGPIPE ignored, so a write to a
//! closed pipe returns an error and `println!` panics on it ("failed printing to stdout").
//! Commands that print for a terminal or a pipe restore the default action; `muster serve`
//! does not need to (its only pipe writes are logs), and sockets are unaffected either way:
//! the standard library sends on them with `MSG_NOSIGNAL`.

/// Restores the default SIGPIPE action: the process ends when its reader goes away.
pub fn restore_default() {
    // SAFETY: `signal` with `SIGPIPE` and `SIG_DFL` only changes this process's disposition of
    // one signal; it runs first thing in `main`, before any thread is spawned, so nothing races
    // with it, and no handler (Rust code) is installed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
