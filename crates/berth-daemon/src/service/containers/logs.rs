//! `GET /containers/{id}/logs`: the json-file log the shim writes, filtered and framed as Docker
//! does (stdcopy frames without a TTY, raw bytes with one), optionally followed.

use super::record::Status;
use super::{ContainerService, Handle, ServiceError};
use bytes::Bytes;
use std::io::{BufRead, Seek, SeekFrom};
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

/// Whether the container keeps a log to read: not with `--log-driver none` (dockerd's answer).
pub fn check_readable(h: &Handle) -> Result<(), ServiceError> {
    if super::create::log_driver(&h.snapshot().host_config) == "none" {
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
        let render = move |l: &Line| -> Option<Bytes> {
            if (l.stream == 1 && !o.stdout) || (l.stream == 2 && !o.stderr) {
                return None;
            }
            if o.since.is_some_and(|s| l.ts < s) || o.until.is_some_and(|u| l.ts >= u) {
                return None;
            }
            let text = if o.timestamps { format!("{} {}", l.time, l.log) } else { l.log.clone() };
            Some(Bytes::from(if tty { text.into_bytes() } else { frame(l.stream, text.as_bytes()) }))
        };
        let (existing, mut offset) = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> (Vec<String>, u64) {
                let mut lines = Vec::new();
                // Rotated files first, oldest first (container.log.N … container.log.1).
                let mut rotated: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(path.parent().unwrap_or(std::path::Path::new(".")))
                    .map(|d| {
                        d.flatten()
                            .filter_map(|e| {
                                let n = e.file_name().to_str()?.strip_prefix("container.log.")?.parse::<u32>().ok()?;
                                Some((n, e.path()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
                for (_, p) in rotated {
                    if let Ok(f) = std::fs::File::open(&p) {
                        lines.extend(std::io::BufReader::new(f).lines().map_while(Result::ok).map(|l| l + "\n"));
                    }
                }
                let Ok(f) = std::fs::File::open(&path) else { return (lines, 0) };
                let mut r = std::io::BufReader::new(f);
                let mut buf = String::new();
                let mut off = 0u64;
                while let Ok(n) = r.read_line(&mut buf) {
                    if n == 0 || !buf.ends_with('\n') {
                        break;
                    }
                    off += n as u64;
                    lines.push(std::mem::take(&mut buf));
                }
                (lines, off)
            })
            .await?
        };
        let skip = o.tail.map(|t| existing.len().saturating_sub(t)).unwrap_or(0);
        for l in existing.iter().skip(skip).filter_map(|l| parse(l)) {
            if let Some(b) = render(&l) {
                if tx.send(b).await.is_err() {
                    return Ok(());
                }
            }
        }
        if !o.follow {
            return Ok(());
        }
        let mut rx = h.watch();
        loop {
            let running = matches!(rx.borrow().status, Status::Running | Status::Restarting | Status::Created) && !rx.borrow().removed;
            let p = path.clone();
            let (lines, new_off) = tokio::task::spawn_blocking(move || -> (Vec<String>, u64) {
                let Ok(mut f) = std::fs::File::open(&p) else { return (vec![], offset) };
                // Rotated meanwhile: the new file starts from the beginning.
                let offset = if f.metadata().map(|m| m.len()).unwrap_or(0) < offset { 0 } else { offset };
                if f.seek(SeekFrom::Start(offset)).is_err() {
                    return (vec![], offset);
                }
                let mut r = std::io::BufReader::new(f);
                let mut out = Vec::new();
                let mut off = offset;
                let mut buf = String::new();
                while let Ok(n) = r.read_line(&mut buf) {
                    if n == 0 || !buf.ends_with('\n') {
                        break;
                    }
                    off += n as u64;
                    out.push(std::mem::take(&mut buf));
                }
                (out, off)
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
