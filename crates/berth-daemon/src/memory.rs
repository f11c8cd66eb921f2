//! Giving freed heap memory back to the system once the daemon goes quiet.
//!
//! glibc's allocator keeps what a burst of requests freed (listing 100 images 2,000 times leaves
//! ~2.5 MB of free but resident heap in its arenas) and only returns the top of each heap. After
//! the API has been quiet for a moment, [`trim_when_idle`] asks it to release every free page
//! (`malloc_trim`), as Go's scavenger does for dockerd. It runs at most once per quiet spell, on the
//! blocking pool, and never while requests keep coming.
//!
//! Most of an idle daemon's resident set is its executable's code, mapped from the file. Starting
//! touches code that serving never runs again (opening the stores, recovery, the start-up
//! collection, network and firewall setup): ~11 MB of text resident at idle, where answering
//! `/_ping`, `version`, `ps` and `images` needs ~6 MB (the kernel maps 64 KiB around each fault).
//! Once the daemon serves, [`release_startup_code`] asks the kernel to reclaim the executable's
//! read-only pages (`MADV_PAGEOUT`); what requests run comes back at its first use (a page fault
//! reading from the page cache or the disk: a few milliseconds on the first call of each kind of
//! request after start, nothing later).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the API must have been quiet before the heap is trimmed.
const QUIET: Duration = Duration::from_millis(500);

static ACTIVE_SINCE_TRIM: AtomicBool = AtomicBool::new(false);
static LAST_REQUEST_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Records API activity (called for every request).
pub fn touch() {
    LAST_REQUEST_MS.store(epoch().elapsed().as_millis() as u64, Ordering::Relaxed);
    ACTIVE_SINCE_TRIM.store(true, Ordering::Relaxed);
}

/// Releases the start-up code (see the module doc), then trims the heap after each quiet spell that
/// followed activity; runs until the runtime stops.
pub async fn trim_when_idle() {
    let _ = berth_types::sched::spawn_blocking(release_startup_code).await;
    let mut tick = tokio::time::interval(QUIET);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let quiet_for = (epoch().elapsed().as_millis() as u64).saturating_sub(LAST_REQUEST_MS.load(Ordering::Relaxed));
        if quiet_for >= QUIET.as_millis() as u64 && ACTIVE_SINCE_TRIM.swap(false, Ordering::Relaxed) {
            let _ = berth_types::sched::spawn_blocking(release_free_heap).await;
        }
    }
}

#[cfg(target_env = "gnu")]
#[allow(unsafe_code)]
fn release_free_heap() {
    // SAFETY: malloc_trim only walks the allocator's own arenas, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(target_env = "gnu"))]
fn release_free_heap() {}

/// Asks the kernel to reclaim the resident pages of this process's executable that are mapped
/// read-only (code and constants; never data). Returns the bytes of the mappings advised.
pub fn release_startup_code() -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(exe) = std::fs::metadata("/proc/self/exe") else { return 0 };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return 0 };
    let mut advised = 0;
    for (start, end) in executable_ranges(&maps, exe.dev(), exe.ino()) {
        if pageout(start, end - start) {
            advised += end - start;
        }
    }
    tracing::debug!(bytes = advised, "released the executable's start-up pages");
    advised
}

/// The read-only mappings in `maps` (`/proc/self/maps`) of the file with inode `ino` on device
/// `dev`, as address ranges.
fn executable_ranges(maps: &str, dev: u64, ino: u64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(range), Some(perms), Some(_offset), Some(device), Some(inode)) = (f.next(), f.next(), f.next(), f.next(), f.next()) else { continue };
        if inode.parse::<u64>().ok() != Some(ino) || perms.as_bytes().get(1) != Some(&b'-') {
            continue;
        }
        // The device as major:minor in hex, as the kernel prints it.
        let Some((major, minor)) = device.split_once(':') else { continue };
        let (Ok(major), Ok(minor)) = (u64::from_str_radix(major, 16), u64::from_str_radix(minor, 16)) else { continue };
        if libc::makedev(major as u32, minor as u32) != dev {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else { continue };
        if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
            out.push((a, b));
        }
    }
    out
}

#[allow(unsafe_code)]
fn pageout(start: usize, len: usize) -> bool {
    // SAFETY: the range is a read-only file mapping of our own executable, still mapped (it is
    // never unmapped); MADV_PAGEOUT only drops resident pages, which the next access faults back in
    // from the file with the same contents. It changes no memory a Rust reference can observe.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_PAGEOUT) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_read_only_mappings_of_the_executable_only() {
        let maps = "\
55d0c0000000-55d0c0100000 r--p 00000000 fe:01 1234 /usr/bin/berth
55d0c0100000-55d0c0900000 r-xp 00100000 fe:01 1234 /usr/bin/berth
55d0c0900000-55d0c0a00000 rw-p 00900000 fe:01 1234 /usr/bin/berth
55d0c0a00000-55d0c0b00000 r-xp 00000000 fe:01 999 /usr/lib/libc.so.6
55d0c0b00000-55d0c0c00000 r-xp 00000000 fe:02 1234 /other/fs/file
55d0c0c00000-55d0c0d00000 rw-p 00000000 00:00 0 [heap]
";
        let dev = libc::makedev(0xfe, 1);
        assert_eq!(executable_ranges(maps, dev, 1234), [(0x55d0c0000000, 0x55d0c0100000), (0x55d0c0100000, 0x55d0c0900000)]);
    }

    #[test]
    fn releasing_the_code_drops_resident_pages_and_they_come_back_when_used() {
        let rss = || {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            status.lines().find_map(|l| l.strip_prefix("RssFile:")).unwrap().trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap()
        };
        let before = rss();
        let advised = release_startup_code();
        assert!(advised > 0, "no mapping of the test executable found");
        let after = rss();
        assert!(after < before, "resident file pages {before} kB -> {after} kB");
        // Code still runs (faulted back in).
        assert_eq!(executable_ranges("", 0, 0), Vec::new());
    }
}
