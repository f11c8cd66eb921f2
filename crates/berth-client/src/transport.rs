//! How the client reaches a daemon: the host string (`unix://`, `tcp://`, `ssh://`) parsed into a
//! [`Host`], and [`dial`], which opens one byte stream to it. HTTP runs over whatever `dial` returns;
//! TLS wraps a TCP stream; a new transport is one more variant and one more arm here.

use crate::ClientError;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// Unix socket path.
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
    /// A remote host reached with `ssh`, where `berth system dial-stdio` connects to the daemon.
    Ssh(SshTarget),
}

/// `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Login name (`-l`), else ssh's default.
    pub user: Option<String>,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (`-p`), else ssh's default.
    pub port: Option<u16>,
}

impl Host {
    /// Parses `unix:///path`, `/path`, `tcp://host:port` or `ssh://[user@]host[:port]`.
    pub fn parse(s: &str) -> Result<Host, ClientError> {
        let bad = || ClientError::BadHost(s.to_string());
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(bad());
            }
            Ok(Host::Unix(PathBuf::from(p)))
        } else if let Some(a) = s.strip_prefix("tcp://") {
            let a = a.trim_end_matches('/');
            if a.is_empty() {
                return Err(bad());
            }
            Ok(Host::Tcp(a.to_string()))
        } else if let Some(rest) = s.strip_prefix("ssh://") {
            SshTarget::parse(rest).map(Host::Ssh).ok_or_else(bad)
        } else if s.starts_with('/') {
            Ok(Host::Unix(PathBuf::from(s)))
        } else {
            Err(bad())
        }
    }
}

impl SshTarget {
    /// `[user@]host[:port]`, `[user@][v6]:port`; no path, query or password (as the docker CLI).
    fn parse(rest: &str) -> Option<SshTarget> {
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return None;
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() && !u.contains(':') => (Some(u.to_string()), h),
            Some(_) => return None,
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            match after.strip_prefix(':') {
                Some(p) => (h.to_string(), Some(p.parse::<u16>().ok()?)),
                None if after.is_empty() => (h.to_string(), None),
                None => return None,
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.parse::<u16>().ok()?)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() || host.starts_with('-') {
            return None;
        }
        Some(SshTarget { user, host, port })
    }

    /// `ssh` and its arguments to run `remote` on the target, as the docker CLI runs them.
    pub fn command(&self, remote: &[&str]) -> (String, Vec<String>) {
        let mut args = vec!["-o".to_string(), "ConnectTimeout=30".to_string(), "-T".to_string()];
        if let Some(u) = &self.user {
            args.extend(["-l".to_string(), u.clone()]);
        }
        if let Some(p) = self.port {
            args.extend(["-p".to_string(), p.to_string()]);
        }
        args.push("--".to_string());
        args.push(self.host.clone());
        args.extend(remote.iter().map(|s| s.to_string()));
        ("ssh".to_string(), args)
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
            Host::Ssh(t) => {
                write!(f, "ssh://")?;
                if let Some(u) = &t.user {
                    write!(f, "{u}@")?;
                }
                if t.host.contains(':') {
                    write!(f, "[{}]", t.host)?;
                } else {
                    write!(f, "{}", t.host)?;
                }
                if let Some(p) = t.port {
                    write!(f, ":{p}")?;
                }
                Ok(())
            }
        }
    }
}

/// A byte stream to the daemon.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// One open stream, and for a command transport what the command said on stderr (read when the
/// stream fails, to say why).
pub struct Dialed {
    pub io: Box<dyn Io>,
    pub diagnostics: Option<CommandStderr>,
}

/// Opens a stream to `host`; over TLS when `tls` is given and the host is `tcp://`.
pub(crate) async fn dial(host: &Host, tls: Option<&crate::tls::Connector>) -> Result<Dialed, ClientError> {
    let err = |source| ClientError::Connect { host: host.to_string(), source };
    let io: Box<dyn Io> = match host {
        Host::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await.map_err(err)?),
        Host::Tcp(a) => {
            let tcp = tokio::net::TcpStream::connect(a.as_str()).await.map_err(err)?;
            let _ = tcp.set_nodelay(true);
            match tls {
                None => Box::new(tcp),
                Some(t) => Box::new(
                    t.connector.connect(t.server_name.clone(), tcp).await.map_err(|e| ClientError::Tls(crate::tls_failure(&e)))?,
                ),
            }
        }
        Host::Ssh(t) => {
            let (program, args) = t.command(&["berth", "system", "dial-stdio"]);
            let (conn, stderr) = CommandConn::spawn(&program, &args).map_err(err)?;
            return Ok(Dialed { io: Box::new(conn), diagnostics: Some(stderr) });
        }
    };
    Ok(Dialed { io, diagnostics: None })
}

/// A child process spoken to through its stdin and stdout (killed when dropped). Shutting down the
/// write side closes the child's stdin, so a half-close reaches the far end (ssh passes the EOF on),
/// as the docker CLI's `commandconn.CloseWrite` does.
pub struct CommandConn {
    _child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: tokio::process::ChildStdout,
}

/// The command line and what the command wrote on stderr, collected in the background.
pub struct CommandStderr {
    pub command: String,
    text: tokio::task::JoinHandle<String>,
}

impl CommandStderr {
    /// What the command wrote on stderr, on one line (waits up to 5 s for it to end).
    pub async fn text(self) -> String {
        let t = tokio::time::timeout(std::time::Duration::from_secs(5), self.text).await;
        let raw = t.ok().and_then(|r| r.ok()).unwrap_or_default();
        raw.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
    }
}

impl CommandConn {
    fn spawn(program: &str, args: &[String]) -> io::Result<(CommandConn, CommandStderr)> {
        use std::process::Stdio;
        use tokio::io::AsyncReadExt;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{program}: {e}")))?;
        let stdin = child.stdin.take().ok_or_else(|| io::Error::other("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
        let mut err = child.stderr.take().ok_or_else(|| io::Error::other("no stderr"))?;
        let text = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = (&mut err).take(64 * 1024).read_to_end(&mut buf).await;
            String::from_utf8_lossy(&buf).into_owned()
        });
        let command = std::iter::once(program).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
        Ok((CommandConn { _child: child, stdin: Some(stdin), stdout }, CommandStderr { command, text }))
    }
}

impl AsyncRead for CommandConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for CommandConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.stdin.as_mut() {
            Some(w) => Pin::new(w).poll_write(cx, buf),
            None => Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "the connection's write side is shut down"))),
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stdin.as_mut() {
            Some(w) => Pin::new(w).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(w) = self.stdin.as_mut() {
            std::task::ready!(Pin::new(w).poll_flush(cx))?;
        }
        // Dropping the pipe's write end is what the child sees as the end of its input.
        self.stdin = None;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_and_print_back() {
        for s in ["unix:///run/berth/berth.sock", "tcp://127.0.0.1:2375", "ssh://root@127.0.0.1:2222", "ssh://example.com", "ssh://u@[::1]:22"] {
            assert_eq!(Host::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Host::parse("/x.sock").unwrap(), Host::Unix("/x.sock".into()));
        let Host::Ssh(t) = Host::parse("ssh://me@h:2200").unwrap() else { panic!() };
        assert_eq!(t, SshTarget { user: Some("me".into()), host: "h".into(), port: Some(2200) });
        let (prog, args) = t.command(&["berth", "system", "dial-stdio"]);
        assert_eq!(prog, "ssh");
        assert_eq!(args.join(" "), "-o ConnectTimeout=30 -T -l me -p 2200 -- h berth system dial-stdio");
        for bad in ["ssh://", "ssh://h/path", "ssh://u:pw@h", "ssh://h:port", "ssh://-oProxyCommand=x", "tcp://", "unix://", "http://h", "h:1"] {
            assert!(Host::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn shutting_down_a_command_conn_ends_the_commands_input() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let args = ["-c".to_string(), "cat; echo ' and the end'".to_string()];
        let (mut conn, _stderr) = CommandConn::spawn("sh", &args).unwrap();
        conn.write_all(b"all of the input").await.unwrap();
        conn.shutdown().await.unwrap();
        assert!(conn.write_all(b"more").await.is_err());
        let mut out = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), conn.read_to_string(&mut out)).await.expect("the command saw the end of its input").unwrap();
        assert_eq!(out, "all of the input and the end\n");
    }
}
