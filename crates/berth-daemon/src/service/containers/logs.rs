//! `GET /containers/{id}/logs`: the json-file log the shim writes, filtered and framed as Docker
//! does (stdcopy frames without a TTY, raw bytes with one), optionally followed.

use super::record::Status;
use super::{ContainerService, Handle, ServiceError};
use bytes::Bytes;
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Which log lines to send and how.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Keep streaming until the container stops.
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only lines at or after (Unix seconds).
    pub since: Option<f64>,
    /// Only lines before (Unix seconds).
    pub until: Option<f64>,
    /// Prefix each line with its RFC 3339 time.
    pub timestamps: bool,
}

struct Line {
    stream: u8,
    time: String,
    ts: f64,
    log: String,
}

fn parse(line: &str) -> Option<Line> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let time = v["time"].as_str()?.to_string();
    let ts = chrono::DateTime::parse_from_rfc3339(&time).map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9).unwrap_or(0.0);
    Some(Line { stream: if v["stream"] == "stderr" { 2 } else { 1 }, time, ts, log: v["log"].as_str()?.to_string() })
}

/// Docker's stdcopy frame.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// Whether the container keeps a log to read: not with `--log-driver none`, nor syslog with
/// `cache-disabled=true` (dockerd's answer).
pub fn check_readable(h: &Handle) -> Result<(), ServiceError> {
    if !super::logdriver::readable(&h.snapshot().host_config) {
        return Err(ServiceError::NotImplemented("configured logging driver does not support reading".into()));
    }
    Ok(())
}

impl ContainerService {
    /// Streams the log of `h` into `tx` until done (or the receiver is dropped).
    pub async fn logs(self: &Arc<Self>, h: Arc<Handle>, o: LogOptions, tx: mpsc::Sender<Bytes>) -> Result<(), ServiceError> {
        let rec = h.snapshot();
        let tty = rec.config.tty.unwrap_or(false);
        let path = self.dir(&rec.id).join("container.log");
        let render = std::sync::Arc::new(move |l: &Line| -> Option<Bytes> {
            if (l.stream == 1 && !o.stdout) || (l.stream == 2 && !o.stderr) {
                return None;
            }
            if o.since.is_some_and(|s| l.ts < s) || o.until.is_some_and(|u| l.ts >= u) {
                return None;
            }
            let text = if o.timestamps { format!("{} {}", l.time, l.log) } else { l.log.clone() };
            Some(Bytes::from(if tty { text.into_bytes() } else { frame(l.stream, text.as_bytes()) }))
        });
        // What is on disk: sent from a blocking thread as it is read, a line at a time (with
        // `tail`, only the last lines: the files are read backwards from their ends), never the
        // whole log in memory.
        let (sent, mut offset) = {
            let (path, tx, render, tail) = (path.clone(), tx.clone(), render.clone(), o.tail);
            berth_types::sched::spawn_blocking(move || -> (bool, u64) {
                let files = log_files(&path);
                let send = |l: &str| match parse(l).and_then(|l| render(&l)) {
                    Some(b) => tx.blocking_send(b).is_ok(),
                    None => true,
                };
                match tail {
                    Some(n) => {
                        let (ranges, off) = tail_ranges(&files, n);
                        (each_line_in(&ranges, send), off)
                    }
                    None => {
                        let mut off = 0;
                        for (i, f) in files.iter().enumerate() {
                            let (ok, end) = each_line(f, 0, &send);
                            if !ok {
                                return (false, 0);
                            }
                            if i + 1 == files.len() {
                                off = end;
                            }
                        }
                        (true, off)
                    }
                }
            })
            .await?
        };
        if !sent {
            return Ok(());
        }
        if !o.follow {
            return Ok(());
        }
        let mut rx = h.watch();
        loop {
            let running = matches!(rx.borrow().status, Status::Running | Status::Restarting | Status::Created) && !rx.borrow().removed;
            let p = path.clone();
            // At most a batch of lines at a time; a full batch means more are waiting.
            let (lines, new_off, more) = berth_types::sched::spawn_blocking(move || -> (Vec<String>, u64, bool) {
                // Rotated meanwhile: the new file starts from the beginning.
                let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                let from = if len < offset { 0 } else { offset };
                let mut out = Vec::new();
                let (all, off) = each_line(&p, from, |l| {
                    out.push(l.to_string());
                    out.len() < FOLLOW_BATCH
                });
                (out, off, !all)
            })
            .await?;
            offset = new_off;
            for l in lines.iter().filter_map(|l| parse(l)) {
                if let Some(b) = render(&l) {
                    if tx.send(b).await.is_err() {
                        return Ok(());
                    }
                }
            }
            if more {
                continue;
            }
            if !running {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                _ = rx.changed() => {}
                _ = tx.closed() => return Ok(()),
            }
        }
    }
}

/// Lines a follow reads and sends at once.
const FOLLOW_BATCH: usize = 4096;

/// The log files of a container, oldest first: `container.log.N` … `container.log.1`, `container.log`
/// (a rotated file may be gzipped: `container.log.N.gz`).
fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = std::fs::read_dir(path.parent().unwrap_or(Path::new(".")))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name();
                    let rest = name.to_str()?.strip_prefix("container.log.")?;
                    let n = rest.strip_suffix(".gz").unwrap_or(rest).parse::<u32>().ok()?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    files.push(path.to_path_buf());
    files
}

fn gzipped(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// A log file read from its start: plain, or decompressed as it is read.
fn reader(path: &Path) -> std::io::Result<Box<dyn Read>> {
    let f = std::fs::File::open(path)?;
    Ok(if gzipped(path) { Box::new(flate2::read::GzDecoder::new(f)) } else { Box::new(f) })
}

/// Calls `f` with each complete line of `path` from byte `from` on (newline included) until it
/// returns false. Returns whether it always returned true, and the offset after the last complete
/// line read. Offsets of a gzipped file are those of its decompressed text.
fn each_line(path: &Path, from: u64, mut f: impl FnMut(&str) -> bool) -> (bool, u64) {
    let r: Box<dyn Read> = if gzipped(path) {
        let Ok(mut r) = reader(path) else { return (true, from) };
        if std::io::copy(&mut (&mut r).take(from), &mut std::io::sink()).is_err() {
            return (true, from);
        }
        r
    } else {
        let Ok(mut file) = std::fs::File::open(path) else { return (true, from) };
        if file.seek(SeekFrom::Start(from)).is_err() {
            return (true, from);
        }
        Box::new(file)
    };
    let mut r = std::io::BufReader::new(r);
    let mut off = from;
    let mut buf = String::new();
    loop {
        buf.clear();
        match r.read_line(&mut buf) {
            Ok(n) if n > 0 && buf.ends_with('\n') => {
                off += n as u64;
                if !f(&buf) {
                    return (false, off);
                }
            }
            _ => return (true, off),
        }
    }
}

/// A log file with random access: the file itself, or a gzipped rotated one decompressed into
/// memory (at most the log's max-size).
fn seekable(path: &Path) -> std::io::Result<Box<dyn ReadSeek>> {
    if gzipped(path) {
        let mut text = Vec::new();
        reader(path)?.read_to_end(&mut text)?;
        return Ok(Box::new(std::io::Cursor::new(text)));
    }
    Ok(Box::new(std::fs::File::open(path)?))
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// Where the last `want` complete lines of `path` start, found by reading backwards from the end
/// in blocks; also the end of its complete lines and how many lines were found (at most `want`).
fn tail_start(path: &Path, want: usize) -> std::io::Result<(u64, u64, usize)> {
    const BLOCK: u64 = 64 << 10;
    let mut f = seekable(path)?;
    let len = f.seek(SeekFrom::End(0))?;
    let mut pos = len;
    let mut end = None; // after the last newline
    let mut found = 0;
    let mut buf = vec![0u8; BLOCK as usize];
    while pos > 0 {
        let n = BLOCK.min(pos);
        pos -= n;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf[..n as usize])?;
        for i in (0..n as usize).rev() {
            if buf[i] != b'\n' {
                continue;
            }
            let at = pos + i as u64 + 1;
            if end.is_none() {
                end = Some(at);
                continue;
            }
            found += 1;
            if found == want {
                return Ok((at, end.unwrap_or(at), found));
            }
        }
    }
    // The file's first line starts at 0 (if there is a complete one).
    let end = end.unwrap_or(0);
    if end > 0 {
        found += 1;
    }
    Ok((0, end, found.min(want)))
}

/// Where the last `n` complete lines over `files` (oldest file first) are: byte ranges of the files,
/// oldest first, and the offset after the last complete line of the newest file. Only the ends of
/// the files are read, newest first, until `n` lines are found.
fn tail_ranges(files: &[PathBuf], n: usize) -> (Vec<(PathBuf, u64, u64)>, u64) {
    let mut ranges = Vec::new();
    let mut left = n;
    let mut current_end = 0;
    for (i, f) in files.iter().enumerate().rev() {
        let Ok((start, end, found)) = tail_start(f, left.max(1)) else { continue };
        if i + 1 == files.len() {
            current_end = end;
        }
        if left == 0 {
            break;
        }
        ranges.push((f.clone(), start, end));
        left = left.saturating_sub(found);
        if left == 0 {
            break;
        }
    }
    ranges.reverse();
    (ranges, current_end)
}

/// Calls `f` with each complete line of the ranges, in order, until it returns false.
fn each_line_in(ranges: &[(PathBuf, u64, u64)], mut f: impl FnMut(&str) -> bool) -> bool {
    for (path, start, end) in ranges {
        let mut at = *start;
        let mut stopped = false;
        each_line(path, *start, |l| {
            at += l.len() as u64;
            // Lines written after the end was found belong to the follow.
            if at > *end {
                return false;
            }
            stopped = !f(l);
            !stopped
        });
        if stopped {
            return false;
        }
    }
    true
}

impl ContainerService {
    /// Makes the shim of a running `k8s-file` container reopen its log file by name (CRI
    /// `ReopenContainerLog`, after the kubelet renamed the file to rotate it).
    pub async fn reopen_log(&self, h: &Handle) -> Result<(), ServiceError> {
        use tokio::io::AsyncBufReadExt;
        let rec = h.snapshot();
        if super::create::log_driver(&rec.host_config) != "k8s-file" {
            return Err(ServiceError::Invalid(format!("container {} does not log in the CRI format", rec.id)));
        }
        if rec.state.status != super::Status::Running {
            return Err(ServiceError::Conflict(format!("container {} is not running", rec.id)));
        }
        let s = super::lifecycle::shim_connect(&self.dir(&rec.id), &berth_shim::ShimHello::ReopenLog)
            .await
            .map_err(|e| ServiceError::Internal(format!("connecting to the shim: {e}")))?;
        let mut line = String::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), tokio::io::BufReader::new(s).read_line(&mut line)).await;
        match read {
            Ok(Ok(_)) if line.trim() == "ok" => Ok(()),
            _ => Err(ServiceError::Internal(format!("the shim of container {} could not reopen its log", rec.id))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_reads_the_last_lines_over_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        let mut all = Vec::new();
        for (name, from) in [("container.log.2", 0), ("container.log.1", 100), ("container.log", 200)] {
            let text: String = (from..from + 100).map(|i| format!("line {i} {}\n", "x".repeat(i % 7 * 3000))).collect();
            all.extend((from..from + 100).map(|i| format!("line {i} {}\n", "x".repeat(i % 7 * 3000))));
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        // An incomplete last line (being written) is not part of the tail.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut f, b"partial").unwrap();
        let files = log_files(&path);
        let complete_end = std::fs::metadata(&path).unwrap().len() - "partial".len() as u64;
        for n in [0, 1, 5, 99, 100, 101, 250, 300, 1000] {
            let (ranges, end) = tail_ranges(&files, n);
            let mut lines = Vec::new();
            each_line_in(&ranges, |l| {
                lines.push(l.to_string());
                true
            });
            assert_eq!(lines, all[all.len().saturating_sub(n)..], "tail {n}");
            assert_eq!(end, complete_end, "tail {n}");
        }
    }

    #[test]
    fn gzipped_rotated_files_are_read_and_tailed() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        let lines = |from: usize| -> String { (from..from + 50).map(|i| format!("line {i}\n")).collect() };
        for (name, from) in [("container.log.2.gz", 0), ("container.log.1.gz", 50)] {
            let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(dir.path().join(name)).unwrap(), flate2::Compression::default());
            enc.write_all(lines(from).as_bytes()).unwrap();
            enc.finish().unwrap();
        }
        std::fs::write(&path, lines(100)).unwrap();
        let files = log_files(&path);
        assert_eq!(files.len(), 3);
        let mut all = Vec::new();
        for f in &files {
            each_line(f, 0, |l| {
                all.push(l.to_string());
                true
            });
        }
        assert_eq!(all.concat(), lines(0) + &lines(50) + &lines(100));
        let (ranges, _) = tail_ranges(&files, 120);
        let mut tail = Vec::new();
        each_line_in(&ranges, |l| {
            tail.push(l.to_string());
            true
        });
        assert_eq!(tail, all[30..]);
    }
}
