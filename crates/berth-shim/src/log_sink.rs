//! The log drivers that send each line out of the container's directory, as dockerd's do:
//! `syslog` (the srslog library's formats and framing over unix, unixgram, udp or tcp sockets,
//! one reconnect and retry on a failed write) and `journald` (systemd's native protocol: one
//! datagram of `KEY=value` fields per line to the journal's socket).
//!
//! Both connect when the container starts, before it runs: a driver that cannot reach its
//! destination fails the start with dockerd's `failed to initialize logging driver: …`.

use berth_runtime::config::{JournaldSink, LogSink, SyslogFormat, SyslogSink};
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

/// How long a write to a stream socket (tcp, unix) may block the shim.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The local syslog sockets srslog tries when no address is given, in its order.
const LOCAL_SYSLOG: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];

/// `LOG_ERR` (stderr lines) and `LOG_INFO` (stdout lines), as dockerd's drivers send them.
const SEVERITY_ERR: u8 = 3;
const SEVERITY_INFO: u8 = 6;

enum Conn {
    Datagram(UnixDatagram),
    Stream(UnixStream),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Conn {
    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Datagram(s) => s.send(b).map(|_| ()),
            Conn::Udp(s) => s.send(b).map(|_| ()),
            Conn::Stream(s) => s.write_all(b),
            Conn::Tcp(s) => s.write_all(b),
        }
    }
}

/// Go's wording of a failed dial (`dial unix /x: connect: no such file or directory`).
fn dial_error(network: &str, address: &str, e: &std::io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(n) => {
            let d = nix::errno::Errno::from_raw(n).desc();
            let mut c = d.chars();
            c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
        }
        None => e.to_string(),
    };
    format!("dial {network} {address}: connect: {text}")
}

fn dial(network: &str, address: &str) -> Result<Conn, String> {
    let err = |e: std::io::Error| dial_error(network, address, &e);
    Ok(match network {
        "unixgram" => {
            let s = UnixDatagram::unbound().map_err(err)?;
            s.connect(address).map_err(err)?;
            Conn::Datagram(s)
        }
        "unix" => {
            let s = UnixStream::connect(address).map_err(err)?;
            let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
            Conn::Stream(s)
        }
        "udp" => {
            let local = if address.starts_with('[') { "[::]:0" } else { "0.0.0.0:0" };
            let s = UdpSocket::bind(local).map_err(err)?;
            s.connect(address).map_err(err)?;
            Conn::Udp(s)
        }
        "tcp" => {
            let s = TcpStream::connect(address).map_err(err)?;
            let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
            Conn::Tcp(s)
        }
        other => return Err(format!("unsupported syslog network {other:?}")),
    })
}

/// srslog's `unixSyslog`: the first local socket that answers, as a datagram then a stream socket.
fn dial_local() -> Result<Conn, String> {
    for path in LOCAL_SYSLOG {
        for network in ["unixgram", "unix"] {
            if let Ok(c) = dial(network, path) {
                return Ok(c);
            }
        }
    }
    Err("Unix syslog delivery error".into())
}

struct Syslog {
    cfg: SyslogSink,
    conn: Conn,
    pid: u32,
}

impl Syslog {
    fn connect(cfg: &SyslogSink) -> Result<Syslog, String> {
        let conn = if cfg.network.is_empty() { dial_local()? } else { dial(&cfg.network, &cfg.address)? };
        Ok(Syslog { cfg: cfg.clone(), conn, pid: std::process::id() })
    }

    /// One message as srslog formats it (always ending in a newline, its default framing).
    fn format(&self, severity: u8, msg: &str) -> String {
        let pri = self.cfg.facility | severity;
        let now = chrono::Local::now();
        let (tag, host, pid) = (&self.cfg.tag, &self.cfg.hostname, self.pid);
        let mut out = match self.cfg.format {
            SyslogFormat::Unix => format!("<{pri}>{} {tag}[{pid}]: {msg}", now.format("%b %e %H:%M:%S")),
            SyslogFormat::Rfc3164 => format!("<{pri}>{} {host} {tag}[{pid}]: {msg}", now.format("%b %e %H:%M:%S")),
            SyslogFormat::Rfc5424 => format!("<{pri}>1 {} {host} {tag} {pid} {tag} - {msg}", now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            SyslogFormat::Rfc5424Micro => {
                format!("<{pri}>1 {} {host} {tag} {pid} {tag} - {msg}", now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            }
        };
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    fn send(&mut self, severity: u8, msg: &str) {
        let out = self.format(severity, msg);
        if self.conn.write(out.as_bytes()).is_ok() {
            return;
        }
        // srslog's writeAndRetry: one new connection, one more try.
        match Syslog::connect(&self.cfg) {
            Ok(fresh) => {
                self.conn = fresh.conn;
                if self.conn.write(out.as_bytes()).is_err() {
                    tracing::warn!("syslog write failed; the line is lost");
                }
            }
            Err(_) => tracing::warn!("syslog unreachable; the line is lost"),
        }
    }
}

struct Journald {
    cfg: JournaldSink,
    sock: UnixDatagram,
}

/// One field of the native journal protocol: `KEY=value\n`, or for a value with a newline
/// `KEY\n<u64 LE length><value>\n` (go-systemd's appendVariable).
fn journal_field(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.extend_from_slice(key.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

impl Journald {
    fn connect(cfg: &JournaldSink) -> Result<Journald, String> {
        // go-systemd's journal.Enabled: the socket must take a connection.
        let probe = UnixDatagram::unbound().and_then(|s| s.connect(&cfg.socket).map(|()| s));
        if probe.is_err() {
            return Err("journald is not enabled on this host".into());
        }
        let sock = UnixDatagram::unbound().map_err(|e| e.to_string())?;
        Ok(Journald { cfg: cfg.clone(), sock })
    }

    /// One entry: PRIORITY, MESSAGE, then the container's fields.
    fn entry(&self, severity: u8, msg: &[u8], partial: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(msg.len() + 512);
        journal_field(&mut out, "PRIORITY", severity.to_string().as_bytes());
        journal_field(&mut out, "MESSAGE", msg);
        for (k, v) in &self.cfg.fields {
            journal_field(&mut out, k, v.as_bytes());
        }
        if partial {
            journal_field(&mut out, "CONTAINER_PARTIAL_MESSAGE", b"true");
        }
        out
    }

    fn send(&mut self, severity: u8, msg: &[u8], partial: bool) {
        let entry = self.entry(severity, msg, partial);
        // Lines are at most 16 KiB, well under the socket's datagram limit.
        if self.sock.send_to(&entry, &self.cfg.socket).is_err() {
            tracing::warn!("journald write failed; the line is lost");
        }
    }
}

/// A connected log driver.
pub(crate) struct Sink(Inner);

enum Inner {
    Syslog(Syslog),
    Journald(Journald),
}

impl Sink {
    /// Connects as dockerd's driver does when the container starts; `Err` is the reason, in
    /// dockerd's words.
    pub(crate) fn connect(cfg: &LogSink) -> Result<Sink, String> {
        Ok(Sink(match cfg {
            LogSink::Syslog(s) => Inner::Syslog(Syslog::connect(s)?),
            LogSink::Journald(j) => Inner::Journald(Journald::connect(j)?),
        }))
    }

    /// One line of `stream` (1 stdout, 2 stderr) without its newline; `partial` when it is a
    /// 16 KiB piece of a longer line.
    pub(crate) fn send(&mut self, stream: u8, line: &[u8], partial: bool) {
        let severity = if stream == 2 { SEVERITY_ERR } else { SEVERITY_INFO };
        match &mut self.0 {
            // dockerd's syslog driver skips empty lines.
            Inner::Syslog(s) if !line.is_empty() => s.send(severity, &String::from_utf8_lossy(line)),
            Inner::Syslog(_) => {}
            Inner::Journald(j) => j.send(severity, line, partial),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn syslog(network: &str, address: &str, format: SyslogFormat) -> SyslogSink {
        SyslogSink { network: network.into(), address: address.into(), facility: 3 << 3, tag: "abc".into(), format, hostname: "h".into() }
    }

    #[test]
    fn syslog_formats_as_srslog() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut s = Sink::connect(&LogSink::Syslog(syslog("unixgram", path.to_str().unwrap(), SyslogFormat::Rfc5424))).unwrap();
        s.send(2, b"oops", false);
        s.send(1, b"", false);
        s.send(1, b"fine", false);
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        let pid = std::process::id();
        assert!(m.starts_with("<27>1 "), "{m}");
        assert!(m.ends_with(&format!(" h abc {pid} abc - oops\n")), "{m}");
        let n = server.recv(&mut buf).unwrap();
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(m.starts_with("<30>1 ") && m.ends_with(" - fine\n"), "{m}");
    }

    #[test]
    fn syslog_dial_errors_read_as_go_s() {
        let e = Sink::connect(&LogSink::Syslog(syslog("unix", "/nonexistent/x.sock", SyslogFormat::Unix))).err().unwrap();
        assert_eq!(e, "dial unix /nonexistent/x.sock: connect: no such file or directory");
    }

    #[test]
    fn journald_entries_use_the_native_protocol() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("journal.sock");
        let cfg = JournaldSink { socket: path.clone(), fields: BTreeMap::from([("CONTAINER_ID".to_string(), "abc".to_string())]) };
        assert_eq!(Sink::connect(&LogSink::Journald(cfg.clone())).err().unwrap(), "journald is not enabled on this host");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut s = Sink::connect(&LogSink::Journald(cfg)).unwrap();
        s.send(1, b"two\nlines", true);
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let mut want = b"PRIORITY=6\nMESSAGE\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\nCONTAINER_ID=abc\nCONTAINER_PARTIAL_MESSAGE=true\n");
        assert_eq!(&buf[..n], &want[..]);
    }
}
