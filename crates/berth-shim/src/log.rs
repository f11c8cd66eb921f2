//! The container's log, written by the shim from the container's output: Docker's json-file
//! format (`container.log`, one JSON object per line, rotated by size), or the kubelet's CRI
//! format (`k8s-file`, Podman's name for it) at the path the CRI asked for: one
//! `<RFC 3339 nano time> <stdout|stderr> <P|F> <text>` line per line of output, `P` for a part of
//! a longer line (split at 16 KiB) and `F` for the line's end. The kubelet rotates CRI logs
//! itself and then asks for a reopen (`ShimHello::ReopenLog`), so those are never rotated here.
//! With `compress` (the `local` driver's default) rotated files are gzipped (`container.log.N.gz`).
//! With a syslog or journald driver each line also goes to it (crate::log_sink); the file is
//! then the local copy `docker logs` reads, as dockerd's dual logging keeps one.

use crate::files::now;
use crate::log_sink::Sink;
use crate::ShimArgs;
use berth_runtime::RuntimeConfig;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

const DEFAULT_LOG_MAX_SIZE: u64 = 10 * 1024 * 1024;
const DEFAULT_LOG_MAX_FILES: u32 = 3;
const LOG_LINE_MAX: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    JsonFile,
    Cri,
}

/// The log of one container (none for an exec or `--log-driver none`).
pub struct Log {
    file: Option<File>,
    format: Format,
    partial: [Vec<u8>; 3],
    path: PathBuf,
    size: u64,
    max_size: u64,
    max_files: u32,
    compress: bool,
    sink: Option<Sink>,
}

fn open_append(path: &std::path::Path) -> Option<File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path).ok()
}

impl Log {
    /// The log the container in `args` keeps, as its runtime config says. `Err`: its log driver
    /// cannot reach its destination (dockerd's reason, for the start's error).
    pub(crate) fn open(args: &ShimArgs, cfg: &RuntimeConfig) -> Result<Log, String> {
        let sink = match (&args.exec_dir, &cfg.log_sink) {
            (None, Some(s)) => Some(Sink::connect(s).map_err(|e| format!("failed to initialize logging driver: {e}"))?),
            _ => None,
        };
        let (format, path) = match &cfg.cri_log_path {
            Some(p) => (Format::Cri, p.clone()),
            None => (Format::JsonFile, args.dir.join("container.log")),
        };
        let file = match args.exec_dir {
            Some(_) => None,
            None if cfg.no_log => None,
            None => {
                if format == Format::Cri {
                    if let Some(parent) = path.parent() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                }
                open_append(&path)
            }
        };
        let size = file.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.len()).unwrap_or(0);
        Ok(Log {
            file,
            format,
            partial: Default::default(),
            path,
            size,
            max_size: if cfg.log_max_size == 0 { DEFAULT_LOG_MAX_SIZE } else { cfg.log_max_size },
            max_files: if cfg.log_max_files == 0 { DEFAULT_LOG_MAX_FILES } else { cfg.log_max_files },
            compress: cfg.log_compress,
            sink,
        })
    }

    /// Opens the log file again by name (after the kubelet renamed it for rotation): a new file
    /// if it is gone. False if there is no log to reopen or the file cannot be created.
    pub(crate) fn reopen(&mut self) -> bool {
        if self.file.is_none() && self.size == 0 && self.format == Format::JsonFile {
            return false;
        }
        self.file = open_append(&self.path);
        self.size = self.file.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.len()).unwrap_or(0);
        self.file.is_some()
    }

    fn rotate(&mut self) {
        let ext = if self.compress { ".gz" } else { "" };
        let name = |n: u32| self.path.with_file_name(format!("container.log.{n}{ext}"));
        let _ = std::fs::remove_file(name(self.max_files.saturating_sub(1).max(1)));
        for n in (1..self.max_files.saturating_sub(1)).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        if self.max_files > 1 && self.compress {
            // Written aside and renamed, so a reader sees the whole file or none.
            if let Err(e) = gzip_to(&self.path, &name(1)) {
                tracing::warn!(error = %e, "compressing the rotated log failed; its lines are lost");
            }
            let _ = std::fs::remove_file(&self.path);
        } else if self.max_files > 1 {
            let _ = std::fs::rename(&self.path, name(1));
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
        self.file = open_append(&self.path);
        self.size = 0;
    }

    /// One line (or part of one) as the log format writes it.
    fn encode(&self, stream: u8, bytes: &[u8], last: bool) -> Vec<u8> {
        let name = if stream == 2 { "stderr" } else { "stdout" };
        match self.format {
            Format::JsonFile => {
                let line = serde_json::json!({"log": String::from_utf8_lossy(bytes), "stream": name, "time": now()});
                let mut out = serde_json::to_vec(&line).unwrap_or_default();
                out.push(b'\n');
                out
            }
            Format::Cri => {
                let (text, tag) = match bytes.strip_suffix(b"\n") {
                    Some(t) => (t, "F"),
                    None if last => (bytes, "F"),
                    None => (bytes, "P"),
                };
                let mut out = format!("{} {name} {tag} ", now()).into_bytes();
                out.extend_from_slice(text);
                out.push(b'\n');
                out
            }
        }
    }

    fn record(&mut self, stream: u8, bytes: &[u8], last: bool) {
        if let Some(sink) = self.sink.as_mut() {
            let (line, partial) = match bytes.strip_suffix(b"\n") {
                Some(l) => (l, false),
                None => (bytes, !last),
            };
            sink.send(stream, line, partial);
        }
        if self.format == Format::JsonFile && self.file.is_some() && self.size >= self.max_size {
            self.rotate();
        }
        let out = self.encode(stream, bytes, last);
        let Some(f) = self.file.as_mut() else { return };
        if f.write_all(&out).is_err() {
            tracing::warn!("writing the container log failed; further output is not logged");
            self.file = None;
        }
        self.size += out.len() as u64;
    }

    /// Output of `stream` (1 stdout, 2 stderr): whole lines are logged, a rest waits for more.
    pub(crate) fn write(&mut self, stream: u8, data: &[u8]) {
        let idx = stream as usize % 3;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos + 1;
            self.record(stream, &buf[start..end], false);
            start = end;
        }
        while buf.len() - start >= LOG_LINE_MAX {
            self.record(stream, &buf[start..start + LOG_LINE_MAX], false);
            start += LOG_LINE_MAX;
        }
        self.partial[idx] = buf[start..].to_vec();
    }

    /// Logs what is left of unfinished lines (the container exited) and syncs the file.
    pub(crate) fn flush(&mut self) {
        for idx in [1u8, 2] {
            let p = std::mem::take(&mut self.partial[idx as usize]);
            if !p.is_empty() {
                self.record(idx, &p, true);
            }
        }
        if let Some(f) = self.file.as_mut() {
            let _ = f.sync_data();
        }
    }
}

/// Gzips `from` into `to` (through a temporary file beside it).
fn gzip_to(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    let tmp = to.with_extension("gz.tmp");
    let mut input = File::open(from)?;
    let mut enc = flate2::write::GzEncoder::new(File::create(&tmp)?, flate2::Compression::default());
    std::io::copy(&mut input, &mut enc)?;
    enc.finish()?.sync_data()?;
    std::fs::rename(&tmp, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cri_log(dir: &std::path::Path) -> Log {
        let path = dir.join("pod/c/0.log");
        let args = ShimArgs { id: "c".into(), dir: dir.to_path_buf(), state_root: dir.to_path_buf(), exec_dir: None };
        let cfg = RuntimeConfig { cri_log_path: Some(path), ..Default::default() };
        Log::open(&args, &cfg).unwrap()
    }

    #[test]
    fn cri_format_tags_full_and_partial_lines() {
        let d = tempfile::tempdir().unwrap();
        let mut log = cri_log(d.path());
        log.write(1, b"hello\nwor");
        log.write(2, b"oops\n");
        log.write(1, &vec![b'x'; LOG_LINE_MAX + 3]);
        log.flush();
        let text = std::fs::read_to_string(d.path().join("pod/c/0.log")).unwrap();
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.splitn(4, ' ').collect()).collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(&lines[0][1..], ["stdout", "F", "hello"]);
        assert_eq!(&lines[1][1..], ["stderr", "F", "oops"]);
        assert_eq!(lines[2][1..3], ["stdout", "P"]);
        assert_eq!(lines[2][3].len(), LOG_LINE_MAX);
        assert!(lines[2][3].starts_with("worxx"));
        assert_eq!(&lines[3][1..], ["stdout", "F", "xxxxxx"]);
        assert!(chrono::DateTime::parse_from_rfc3339(lines[0][0]).is_ok());
    }

    #[test]
    fn reopen_starts_a_new_file_after_rotation() {
        let d = tempfile::tempdir().unwrap();
        let mut log = cri_log(d.path());
        log.write(1, b"one\n");
        let p = d.path().join("pod/c/0.log");
        std::fs::rename(&p, d.path().join("rotated")).unwrap();
        assert!(log.reopen());
        log.write(1, b"two\n");
        assert!(std::fs::read_to_string(&p).unwrap().ends_with(" stdout F two\n"));
        assert!(std::fs::read_to_string(d.path().join("rotated")).unwrap().ends_with(" stdout F one\n"));
    }
}

#[cfg(test)]
mod rotation_tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn compressed_rotation_gzips_the_rotated_files() {
        let d = tempfile::tempdir().unwrap();
        let args = ShimArgs { id: "c".into(), dir: d.path().to_path_buf(), state_root: d.path().to_path_buf(), exec_dir: None };
        let cfg = RuntimeConfig { log_max_size: 200, log_max_files: 3, log_compress: true, ..Default::default() };
        let mut log = Log::open(&args, &cfg).unwrap();
        for i in 0..20 {
            log.write(1, format!("line {i}\n").as_bytes());
        }
        log.flush();
        assert!(!d.path().join("container.log.1").exists());
        assert!(!d.path().join("container.log.3.gz").exists());
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(d.path().join("container.log.1.gz")).unwrap()).read_to_string(&mut text).unwrap();
        assert!(text.lines().count() > 1 && text.contains("\"stream\":\"stdout\""), "{text}");
        assert!(d.path().join("container.log.2.gz").exists());
    }
}
