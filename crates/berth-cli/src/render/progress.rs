//! Pull and push progress, drawn as the docker CLI draws it (`jsonmessage.DisplayJSONMessagesStream`).
//!
//! On a terminal every item with an `id` (a layer) owns one line, allocated in the order the ids first
//! appear, and each message for that id rewrites its line in place: the cursor goes up to it
//! (`ESC[nA`), clears it (`ESC[2K`), prints `id: status progress` and comes back down (`ESC[nB`), so it
//! always rests on the empty line below the block. A message without an id is printed where the
//! cursor rests and starts a new block, as Docker does so that a later operation (the next tag of
//! `pull -a`) does not rewrite the lines of an earlier one.
//!
//! Off a terminal there are no escape sequences: one line per message, and byte-progress updates are
//! dropped (Docker prints no progress bar into a pipe).
//!
//! One deliberate difference: Docker keeps a line only for messages carrying `progressDetail`
//! (dockerd sends an empty `{}` with every layer status). Berth's daemon omits it on status-only
//! messages (`Pull complete`), so here every message with an id keeps a line.

use berth_api::progress::{JsonMessage, ProgressDetail};
use std::collections::HashMap;
use std::io::{self, Write};

/// Width of Docker's bar in `=` signs at 100 % (`JSONProgress.String`).
const BAR_WIDTH: i64 = 50;

/// Renders a stream of [`JsonMessage`]s to `out`, one call of [`ProgressRenderer::render`] per message.
pub struct ProgressRenderer<W: Write> {
    out: W,
    tty: bool,
    /// Line index (0 = top of the current block) of each id seen since the last id-less message.
    lines: HashMap<String, usize>,
}

impl<W: Write> ProgressRenderer<W> {
    /// A renderer writing to `out`; `tty` selects in-place updates (true) or plain lines (false).
    pub fn new(out: W, tty: bool) -> Self {
        ProgressRenderer { out, tty, lines: HashMap::new() }
    }

    /// The writer, for tests and for callers that want it back.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Draws one message. `aux` records are data for the caller, never printed (as in Docker);
    /// error messages are the caller's to report.
    pub fn render(&mut self, m: &JsonMessage) -> io::Result<()> {
        if m.aux.is_some() {
            return Ok(());
        }
        match (&m.id, self.tty) {
            (Some(id), true) => self.render_in_place(id, m)?,
            _ => {
                self.lines.clear();
                self.render_plain(m)?;
            }
        }
        self.out.flush()
    }

    fn render_in_place(&mut self, id: &str, m: &JsonMessage) -> io::Result<()> {
        let next = self.lines.len();
        let line = *self.lines.entry(id.to_string()).or_insert(next);
        if line == next {
            // A new id: open its line below the block; the cursor rests below it again.
            writeln!(self.out)?;
        }
        let up = self.lines.len() - line;
        write!(self.out, "\x1b[{up}A\x1b[2K\r{id}: {}", m.status.as_deref().unwrap_or(""))?;
        let bar = progress_text(m);
        if !bar.is_empty() {
            write!(self.out, " {bar}")?;
        }
        write!(self.out, "\r\x1b[{up}B")
    }

    fn render_plain(&mut self, m: &JsonMessage) -> io::Result<()> {
        if let Some(s) = &m.stream {
            return self.out.write_all(s.as_bytes());
        }
        if !self.tty && has_progress(m) {
            return Ok(());
        }
        if let Some(id) = &m.id {
            write!(self.out, "{id}: ")?;
        }
        write!(self.out, "{}", m.status.as_deref().unwrap_or(""))?;
        if self.tty {
            let bar = progress_text(m);
            if !bar.is_empty() {
                write!(self.out, " {bar}")?;
            }
        }
        writeln!(self.out)
    }
}

/// Whether `m` is a byte-progress update (Docker: a non-empty `JSONProgress.String()` or a legacy
/// `progress` string).
fn has_progress(m: &JsonMessage) -> bool {
    m.progress.as_deref().is_some_and(|p| !p.is_empty()) || m.progress_detail.as_ref().is_some_and(|d| d.current.unwrap_or(0) > 0 || d.total.unwrap_or(0) > 0)
}

/// The daemon's pre-rendered bar, or one drawn from `progressDetail` when the daemon sent none.
fn progress_text(m: &JsonMessage) -> String {
    match (&m.progress, &m.progress_detail) {
        (Some(p), _) if !p.is_empty() => p.clone(),
        (_, Some(d)) => bar(d),
        _ => String::new(),
    }
}

/// Docker's `JSONProgress.String()` for a wide terminal, without the time estimate (the stream carries
/// no start time): `[=========>     ]  12.35MB/45.6MB`; only the count when the total is unknown;
/// only `current` when it overshoots the total.
pub fn bar(d: &ProgressDetail) -> String {
    let current = d.current.unwrap_or(0);
    let total = d.total.unwrap_or(0);
    if current <= 0 && total <= 0 {
        return String::new();
    }
    let cur = human_size(current as f64);
    if total <= 0 {
        return format!("{cur:>8}");
    }
    let filled = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, BAR_WIDTH);
    let bar = format!("[{}>{}] ", "=".repeat(filled as usize), " ".repeat((BAR_WIDTH - filled) as usize));
    if current > total {
        format!("{bar}{cur:>8}")
    } else {
        format!("{bar}{cur:>8}/{}", human_size(total as f64))
    }
}

/// go-units `HumanSize` (four significant digits), which Docker's bar uses.
fn human_size(bytes: f64) -> String {
    crate::render::units::human_size_digits(bytes, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: Option<&str>, status: &str, detail: Option<(i64, i64)>) -> JsonMessage {
        JsonMessage {
            id: id.map(str::to_string),
            status: Some(status.to_string()),
            progress_detail: detail.map(|(c, t)| ProgressDetail { current: Some(c), total: Some(t) }),
            ..Default::default()
        }
    }

    fn pull_of_two_layers() -> Vec<JsonMessage> {
        vec![
            msg(Some("latest"), "Pulling from library/busybox", None),
            msg(Some("aaa"), "Pulling fs layer", None),
            msg(Some("bbb"), "Pulling fs layer", None),
            msg(Some("aaa"), "Downloading", Some((500_000, 1_000_000))),
            msg(Some("bbb"), "Downloading", Some((12_345_678, 45_600_000))),
            msg(Some("aaa"), "Pull complete", None),
            msg(Some("bbb"), "Pull complete", None),
            msg(None, "Digest: sha256:abc", None),
            msg(None, "Status: Downloaded newer image for busybox:latest", None),
        ]
    }

    fn run(tty: bool, msgs: &[JsonMessage]) -> String {
        let mut r = ProgressRenderer::new(Vec::new(), tty);
        for m in msgs {
            r.render(m).unwrap();
        }
        String::from_utf8(r.into_inner()).unwrap()
    }

    #[test]
    fn terminal_updates_one_line_per_id_in_place() {
        let half = format!("[{}>{}]    500kB/1MB", "=".repeat(25), " ".repeat(25));
        let quarter = format!("[{}>{}]  12.35MB/45.6MB", "=".repeat(13), " ".repeat(37));
        let expected = [
            "\n\x1b[1A\x1b[2K\rlatest: Pulling from library/busybox\r\x1b[1B".to_string(),
            "\n\x1b[1A\x1b[2K\raaa: Pulling fs layer\r\x1b[1B".to_string(),
            "\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer\r\x1b[1B".to_string(),
            format!("\x1b[2A\x1b[2K\raaa: Downloading {half}\r\x1b[2B"),
            format!("\x1b[1A\x1b[2K\rbbb: Downloading {quarter}\r\x1b[1B"),
            "\x1b[2A\x1b[2K\raaa: Pull complete\r\x1b[2B".to_string(),
            "\x1b[1A\x1b[2K\rbbb: Pull complete\r\x1b[1B".to_string(),
            "Digest: sha256:abc\n".to_string(),
            "Status: Downloaded newer image for busybox:latest\n".to_string(),
        ]
        .concat();
        assert_eq!(run(true, &pull_of_two_layers()), expected);
    }

    #[test]
    fn a_line_without_id_starts_a_new_block() {
        let msgs = [msg(Some("aaa"), "Pushed", None), msg(None, "latest: digest: sha256:abc size: 1", None), msg(Some("aaa"), "Preparing", None)];
        let expected = "\n\x1b[1A\x1b[2K\raaa: Pushed\r\x1b[1B\
                        latest: digest: sha256:abc size: 1\n\
                        \n\x1b[1A\x1b[2K\raaa: Preparing\r\x1b[1B";
        assert_eq!(run(true, &msgs), expected);
    }

    #[test]
    fn pipe_gets_plain_lines_without_progress_updates() {
        let expected = "latest: Pulling from library/busybox\naaa: Pulling fs layer\nbbb: Pulling fs layer\n\
                        aaa: Pull complete\nbbb: Pull complete\nDigest: sha256:abc\n\
                        Status: Downloaded newer image for busybox:latest\n";
        let out = run(false, &pull_of_two_layers());
        assert_eq!(out, expected);
        assert!(!out.contains('\x1b') && !out.contains('\r'));
    }

    #[test]
    fn daemon_bar_is_used_when_sent_and_aux_is_hidden() {
        let mut m = msg(Some("aaa"), "Extracting", Some((1, 2)));
        m.progress = Some("[==>  ] 1B/2B".into());
        let aux = JsonMessage { aux: Some(serde_json::json!({"Digest": "sha256:abc"})), ..Default::default() };
        assert_eq!(run(true, &[m, aux]), "\n\x1b[1A\x1b[2K\raaa: Extracting [==>  ] 1B/2B\r\x1b[1B");
    }

    #[test]
    fn bar_matches_docker() {
        let d = |c, t| ProgressDetail { current: Some(c), total: Some(t) };
        assert_eq!(bar(&d(0, 0)), "");
        assert_eq!(bar(&d(1_500, 0)), "   1.5kB");
        assert_eq!(bar(&d(45_600_000, 45_600_000)), format!("[{}>]   45.6MB/45.6MB", "=".repeat(50)));
        assert_eq!(bar(&d(3_000, 2_000)), format!("[{}>]      3kB", "=".repeat(50)));
        assert_eq!(human_size(999_960.0), "1000kB");
        assert_eq!(human_size(123.0), "123B");
    }
}
