//! The rootless daemon's parent: an ordinary user's `berth daemon`. It starts the daemon again as
//! its child, maps the child's new user namespace with `newuidmap`/`newgidmap` (setuid helpers
//! that grant only the ranges `/etc/subuid` and `/etc/subgid` give the user), connects the child's
//! network namespace to the host with `pasta`, forwards signals, and when the daemon ends stops
//! what is left in the namespace (as rootlesskit does for rootless dockerd).

use super::{map_args, subordinate_ranges, which, Account};
use anyhow::Context;
use berth_daemon::rootless::{CHILD_ENV, DNS_FORWARD, PORT_START_ENV};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::ChildStdout;

/// How long the daemon's containers get to stop after SIGTERM, once the daemon has gone.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs the daemon rootless until it ends; its exit status is ours.
pub async fn run() -> anyhow::Result<ExitCode> {
    let account = Account::current()?;
    let (uids, gids) = subordinate_ranges(&account)?;
    let newuidmap = which("newuidmap").context("newuidmap not found: install Debian's uidmap package")?;
    let newgidmap = which("newgidmap").context("newgidmap not found: install Debian's uidmap package")?;
    let pasta = which("pasta").context("pasta not found: install Debian's passt package")?;
    if let Some(problem) = super::tun_problem() {
        anyhow::bail!("{problem}");
    }
    let exec_root = account.dirs.exec_root();
    create_private_dir(&exec_root)?;
    let port_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap_or_else(|_| "1024".into());
    let exe = std::env::current_exe().context("finding the berth executable")?;
    let mut child = tokio::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .env(CHILD_ENV, "1")
        .env("BERTH_EXEC_ROOT", &exec_root)
        .env(PORT_START_ENV, port_start.trim())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let pid = child.id().context("the daemon exited at once")?;
    let mut stdin = child.stdin.take().context("the daemon's stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("the daemon's stdout")?).lines();
    let pasta_pid_file = exec_root.join("pasta.pid");
    let mut userns = None;
    let started: anyhow::Result<()> = async {
        if !expect(&mut lines, "userns").await? {
            return Ok(()); // The child failed and said why on stderr.
        }
        run_helper(&newuidmap, pid, &map_args(account.uid, &uids)).await?;
        run_helper(&newgidmap, pid, &map_args(account.gid, &gids)).await?;
        stdin.write_all(b"mapped\n").await?;
        if !expect(&mut lines, "netns").await? {
            return Ok(());
        }
        userns = std::fs::read_link(format!("/proc/{pid}/ns/user")).ok();
        start_pasta(&pasta, pid, &pasta_pid_file).await?;
        stdin.write_all(b"network\n").await?;
        Ok(())
    }
    .await;
    drop(stdin);
    if let Err(e) = started {
        let _ = child.start_kill();
        let _ = child.wait().await;
        stop_namespace(userns.as_deref(), &pasta_pid_file).await;
        return Err(e);
    }
    // The daemon's own stdout (if it ever writes any) is ours.
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            println!("{l}");
        }
    });
    let status = forward_signals_until_exit(&mut child, pid).await?;
    stop_namespace(userns.as_deref(), &pasta_pid_file).await;
    Ok(match status.code() {
        Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
        None => ExitCode::FAILURE,
    })
}

/// `dir` made if missing, and only the user's (shim sockets and pasta's pid file live there).
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(|| format!("setting the mode of {}", dir.display()))
}

/// The child's next line: true if it is `want`, false if the child ended first.
async fn expect(lines: &mut Lines<BufReader<ChildStdout>>, want: &str) -> anyhow::Result<bool> {
    match lines.next_line().await? {
        Some(l) if l == want => Ok(true),
        Some(l) => anyhow::bail!("unexpected line from the rootless daemon: {l:?}"),
        None => Ok(false),
    }
}

/// Runs `newuidmap`/`newgidmap` for `pid`.
async fn run_helper(helper: &Path, pid: u32, args: &[String]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new(helper).arg(pid.to_string()).args(args).output().await.with_context(|| format!("running {}", helper.display()))?;
    if !out.status.success() {
        anyhow::bail!("{} {pid} {}: {}", helper.display(), args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Starts pasta on the child's network namespace: the host's addresses and routes copied in, TCP
/// and UDP ports bound in the namespace (published ports: the daemon's proxies) forwarded from the
/// host, and ports bound on the host (a registry on 127.0.0.1) reachable from the namespace's
/// loopback, and DNS queries to [`DNS_FORWARD`] sent on to the host's first nameserver (from the
/// host, so one on its loopback answers too). pasta daemonizes once the namespace is configured.
async fn start_pasta(pasta: &Path, pid: u32, pid_file: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(pid_file);
    let out = tokio::process::Command::new(pasta)
        .args(["--config-net", "--quiet", "-t", "auto", "-u", "auto", "-T", "auto", "-U", "auto", "--dns-forward", DNS_FORWARD, "--pid"])
        .arg(pid_file)
        .arg("--netns")
        .arg(format!("/proc/{pid}/ns/net"))
        .arg("--userns")
        .arg(format!("/proc/{pid}/ns/user"))
        .stdin(Stdio::null())
        .output()
        .await
        .context("running pasta")?;
    if !out.status.success() {
        anyhow::bail!("pasta failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Passes SIGTERM, SIGINT and SIGHUP (reload) on to the daemon until it exits.
async fn forward_signals_until_exit(child: &mut tokio::process::Child, pid: u32) -> anyhow::Result<std::process::ExitStatus> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let target = Pid::from_raw(pid as i32);
    loop {
        tokio::select! {
            status = child.wait() => return Ok(status?),
            _ = term.recv() => { let _ = kill(target, Signal::SIGTERM); }
            _ = int.recv() => { let _ = kill(target, Signal::SIGINT); }
            _ = hup.recv() => { let _ = kill(target, Signal::SIGHUP); }
        }
    }
}

/// Stops every process left in the daemon's user namespace (shims, containers; SIGTERM, then
/// SIGKILL after [`STOP_GRACE`]) and pasta. The user owns the namespace, so may signal them all,
/// subordinate uids included.
async fn stop_namespace(userns: Option<&Path>, pasta_pid_file: &Path) {
    if let Some(ns) = userns {
        let ns = ns.to_path_buf();
        let _ = berth_types::sched::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + STOP_GRACE;
            let mut signal = Signal::SIGTERM;
            loop {
                let left = members(&ns);
                if left.is_empty() {
                    return;
                }
                for p in &left {
                    let _ = kill(*p, signal);
                }
                if std::time::Instant::now() >= deadline {
                    signal = Signal::SIGKILL;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .await;
    }
    if let Some(p) = std::fs::read_to_string(pasta_pid_file).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
        let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
    }
    let _ = std::fs::remove_file(pasta_pid_file);
}

/// The processes whose user namespace is `ns` (as `/proc/<pid>/ns/user` names it).
fn members(ns: &Path) -> Vec<Pid> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| *p != me)
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/user")).is_ok_and(|l| l == ns))
        .map(Pid::from_raw)
        .collect()
}
