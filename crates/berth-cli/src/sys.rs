//! The CLI's calls into libc without a safe wrapper.
#![allow(unsafe_code)]

nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);

/// The size (rows, columns) of the terminal on stdout, if it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: fd 1 is valid for the process's life and `ws` is a valid, writable winsize.
    let r = unsafe { tiocgwinsz(1, &mut ws) };
    (r.is_ok() && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Makes every thread allocate from glibc's main arena. The daemon's threads otherwise get an
/// arena each, whose free pages stay resident after a burst of requests (~2 MB on an idle daemon);
/// its allocations are small and rare next to its I/O, so one arena costs it nothing measurable.
/// Must run before any thread starts.
pub fn single_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
