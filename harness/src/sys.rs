//! The harness's only `unsafe`: asking the kernel to end a child when the harness dies.
//!
//! A harness killed with SIGKILL cannot run its cleanup, and a filter left running keeps
//! its queue bound. `PR_SET_PDEATHSIG` makes the kernel send SIGTERM to each child when
//! the harness's thread that started it exits, so nothing of ours outlives us; the lock
//! file (lock.rs) then lets the next run remove the namespace and rules.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s process receive SIGTERM when the harness dies.
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called. It calls prctl(2), a raw system call
    // wrapper that is async-signal-safe, allocates nothing and touches no lock or
    // shared state. The flag survives the exec of `ip netns exec` and of the program it
    // runs (it is cleared only on set-uid exec, which none of ours are).
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}
