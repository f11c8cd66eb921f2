//! Helpers shared by the fuzz targets.

use std::path::{Path, PathBuf};

/// Rewrites the checksum of every tar header in `buf` (and in tars nested as entry data, as image
/// archives nest layers), so that mutated archives still reach the code behind the header check
/// instead of all failing it. The input format stays a plain tar: seeds are real archives.
pub fn fix_tar_checksums(buf: &mut [u8]) {
    fix_tar(buf, 0);
}

fn fix_tar(buf: &mut [u8], depth: usize) {
    let mut off = 0usize;
    while off + 512 <= buf.len() {
        let block = &mut buf[off..off + 512];
        if block.iter().all(|&b| b == 0) {
            off += 512;
            continue;
        }
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        let field = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(&field.as_bytes()[..8]);
        let size = header_size(&block[124..136]).unwrap_or(0);
        let data_start = off + 512;
        let data_end = data_start.saturating_add(size.min(buf.len() as u64) as usize).min(buf.len());
        if depth < 2 && data_end - data_start >= 512 && &buf[data_start + 257..data_start + 262] == b"ustar" {
            fix_tar(&mut buf[data_start..data_end], depth + 1);
        }
        let padded = (size.min(buf.len() as u64) as usize).div_ceil(512) * 512;
        off = data_start.saturating_add(padded);
    }
}

/// A tar size field: octal text, or GNU base-256 (high bit set).
fn header_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = 0;
        for &b in &field[4..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text: String = field.iter().take_while(|&&b| b != 0 && b != b' ').map(|&b| b as char).collect();
    u64::from_str_radix(text.trim(), 8).ok()
}

/// A scratch directory for one process, on tmpfs when there is one (the targets create and remove a
/// tree per input). Removed at exit only by the OS's temp cleaning: libFuzzer exits with `_exit`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("berth-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Every path under `dir` (relative), with its file type, size, mode, owner and mtime, sorted: a
/// snapshot to compare.
pub fn tree(dir: &Path) -> Vec<(PathBuf, String, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(md) = std::fs::symlink_metadata(&p) else { continue };
            let rel = p.strip_prefix(dir).unwrap_or(&p).to_path_buf();
            let meta = format!("{:?} {:o} {}:{} {}.{}", md.file_type(), md.mode(), md.uid(), md.gid(), md.mtime(), md.mtime_nsec());
            out.push((rel, meta, md.len()));
            if md.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A single-threaded async runtime with timers, built once per process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}

/// Removes a tree that may contain read-only directories, immutable-looking modes and device nodes.
pub fn remove_tree(dir: &Path) {
    if std::fs::remove_dir_all(dir).is_ok() {
        return;
    }
    // Make every directory writable and retry (a layer can make a directory mode 0).
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }
    std::fs::remove_dir_all(dir).expect("remove scratch tree");
}
