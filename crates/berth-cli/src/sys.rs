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

/// Returns freed large buffers to the kernel: glibc raises its mmap threshold after each large free
/// (up to 32 MiB), so later 256 KiB–1 MiB I/O buffers come from the heap and stay resident once
/// freed. A fixed threshold keeps them mmapped (unmapped at free) and trims the heap top above
/// 128 KiB. For the registry, whose large allocations are per-request I/O buffers: an idle registry
/// after a burst of pushes then holds about what it held before. Must run before any thread starts.
pub fn return_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 10);
    }
}
