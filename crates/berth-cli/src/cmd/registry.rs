//! `berth registry`: the OCI Distribution server, and `berth registry gc`.

use crate::cli::{RegistryArgs, RegistryCmd};
use berth_registry::{AuthConfig, FileConfig, GcOptions, ProxyConfig, RegistryConfig, StorageChoice};
use std::process::ExitCode;
use std::time::Duration;

/// Runs the registry until SIGTERM or SIGINT, or runs a maintenance command.
pub async fn run(a: RegistryArgs) -> anyhow::Result<ExitCode> {
    if let Some(RegistryCmd::Gc { root, config, dry_run, grace }) = a.command {
        init_logging(a.log_level.as_deref().unwrap_or("info"))?;
        let opts = GcOptions { dry_run, grace: Duration::from_secs(grace), ..GcOptions::default() };
        let (storage, root) = match config {
            Some(path) => {
                let f = FileConfig::load(&path).map_err(|e| anyhow::anyhow!("{}", crate::cmd::error_chain(&e)))?;
                if f.registry.storage == StorageChoice::Memory {
                    anyhow::bail!("{}: storage is inmemory, which only the serving process holds: nothing to collect", path.display());
                }
                (f.registry.storage, f.registry.root)
            }
            None => (StorageChoice::Filesystem, root),
        };
        let r = berth_registry::gc_on(&storage, &root, &opts).map_err(|e| anyhow::anyhow!("{}", crate::cmd::error_chain(&e)))?;
        let verb = if r.dry_run { "would remove" } else { "removed" };
        for d in &r.blobs_removed {
            println!("{verb} blob {d}");
        }
        println!(
            "{} blobs referenced, {} blobs {verb} ({} bytes), {} stale links and {} stale uploads {verb}",
            r.blobs_marked,
            r.blobs_removed.len(),
            r.bytes_freed,
            r.links_removed,
            r.uploads_removed
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (cfg, log_level) = config(a)?;
    init_logging(&log_level)?;
    berth_registry::serve(cfg, super::signals::shutdown_signal())
        .await
        .map_err(|e| anyhow::anyhow!("{}", crate::cmd::error_chain(&e)))?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(level: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|_| anyhow::anyhow!("invalid --log-level {level:?}: use error, warn, info, debug or trace"))?;
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init();
    Ok(())
}

/// The registry's configuration and log level: defaults, overlaid by `--config FILE`, overlaid by
/// each flag given on the command line.
fn config(a: RegistryArgs) -> anyhow::Result<(RegistryConfig, String)> {
    let (mut cfg, file_level) = match &a.config {
        Some(path) => {
            let f = FileConfig::load(path).map_err(|e| anyhow::anyhow!("{}", crate::cmd::error_chain(&e)))?;
            (f.registry, f.log_level)
        }
        None => (RegistryConfig::default(), None),
    };
    if let Some(l) = &a.listen {
        cfg.listen = l.parse().map_err(|_| anyhow::anyhow!("invalid --listen {l:?}: expected IP:PORT"))?;
    }
    if let Some(r) = a.root {
        cfg.root = r;
    }
    if let (Some(c), Some(k)) = (a.tls_cert, a.tls_key) {
        cfg.tls_cert = Some(c);
        cfg.tls_key = Some(k);
    }
    if let Some(auth) = &a.auth {
        cfg.auth = auth.parse::<AuthConfig>().map_err(|e| anyhow::anyhow!("invalid --auth: {e}"))?;
    }
    if !a.anonymous_pull.is_empty() {
        cfg.anonymous_pull = a.anonymous_pull;
    }
    if a.read_only {
        cfg.read_only = true;
    }
    if let Some(addr) = a.debug_addr {
        cfg.debug_addr = Some(addr);
    }
    if let Some(secs) = a.gc_interval {
        cfg.gc_interval = (secs > 0).then(|| Duration::from_secs(secs));
    }
    if let Some(url) = a.proxy_remote_url {
        let keep = cfg.proxy.take().filter(|p| p.remote_url == url);
        cfg.proxy = Some(keep.unwrap_or_else(|| ProxyConfig::new(url)));
    }
    // The proxy flags adjust a proxy set by --proxy-remote-url or the config file's `proxy:`.
    let proxy_flags = [a.proxy_username.is_some(), a.proxy_password.is_some(), a.proxy_ttl.is_some(), a.proxy_tag_ttl.is_some()];
    if cfg.proxy.is_none() && proxy_flags.contains(&true) {
        anyhow::bail!("--proxy-username, --proxy-password, --proxy-ttl and --proxy-tag-ttl need a proxy: --proxy-remote-url or proxy.remoteurl in the config file");
    }
    if let Some(p) = cfg.proxy.as_mut() {
        if let Some(u) = a.proxy_username {
            p.username = Some(u);
        }
        if let Some(pw) = a.proxy_password {
            p.password = Some(pw);
        }
        if let Some(t) = a.proxy_ttl {
            p.ttl = (t > 0).then(|| Duration::from_secs(t));
        }
        if let Some(t) = a.proxy_tag_ttl {
            p.tag_ttl = Duration::from_secs(t);
        }
        p.validate().map_err(|e| anyhow::anyhow!("invalid proxy settings: {e}"))?;
    }
    let level = a.log_level.or(file_level).unwrap_or_else(|| "info".into());
    Ok((cfg, level))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(argv: &[&str]) -> RegistryArgs {
        match Cli::try_parse_from(["berth", "registry"].iter().chain(argv)).unwrap().command {
            Command::Registry(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_override_the_config_file_and_the_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registry.yml");
        std::fs::write(
            &file,
            "log: {level: debug}\nhttp:\n  addr: 127.0.0.1:6000\n  timeouts: {idle: 5s}\n\
             storage:\n  filesystem: {rootdirectory: data}\nauth:\n  htpasswd: {path: users}\n  anonymouspull: [\"pub/*\"]\n\
             gc: {interval: 10m}\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let (c, level) = config(args(&["--config", f])).unwrap();
        assert_eq!((c.listen.port(), level.as_str()), (6000, "debug"));
        assert_eq!(c.root, dir.path().join("data"));
        assert_eq!(c.auth, AuthConfig::Htpasswd(dir.path().join("users")));
        assert_eq!((c.idle_timeout, c.gc_interval), (Duration::from_secs(5), Some(Duration::from_secs(600))));
        assert!(!c.read_only);
        let (c, level) = config(args(&[
            "--config", f, "--listen", "127.0.0.1:7000", "--root", "/r", "--auth", "none", "--anonymous-pull", "x/*",
            "--read-only", "--gc-interval", "0", "--log-level", "warn",
        ]))
        .unwrap();
        assert_eq!((c.listen.port(), level.as_str()), (7000, "warn"));
        assert_eq!((c.root.to_str(), &c.auth), (Some("/r"), &AuthConfig::None));
        assert_eq!((c.anonymous_pull, c.read_only, c.gc_interval), (vec!["x/*".to_string()], true, None));
        // Keys no flag names stay as the file set them.
        assert_eq!(c.idle_timeout, Duration::from_secs(5));
        let (c, level) = config(args(&[])).unwrap();
        assert_eq!((c.listen, level.as_str()), (RegistryConfig::default().listen, "info"));
        assert!(c.proxy.is_none());
    }

    #[test]
    fn proxy_flags_set_and_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registry.yml");
        std::fs::write(&file, "proxy: {remoteurl: http://127.0.0.1:5000, username: u, password: p, ttl: 1h}\n").unwrap();
        let f = file.to_str().unwrap();
        let (c, _) = config(args(&["--config", f, "--proxy-ttl", "0", "--proxy-tag-ttl", "30"])).unwrap();
        let p = c.proxy.unwrap();
        assert_eq!((p.username.as_deref(), p.ttl, p.tag_ttl), (Some("u"), None, Duration::from_secs(30)));
        let (c, _) = config(args(&["--proxy-remote-url", "https://up.example", "--proxy-username", "a", "--proxy-password", "b"])).unwrap();
        let p = c.proxy.unwrap();
        assert_eq!((p.remote_url.as_str(), p.ttl), ("https://up.example", Some(Duration::from_secs(168 * 3600))));
        let e = config(args(&["--proxy-remote-url", "https://up.example", "--proxy-username", "a"])).unwrap_err().to_string();
        assert!(e.contains("username and password"), "{e}");
        let e = config(args(&["--proxy-ttl", "5"])).unwrap_err().to_string();
        assert!(e.contains("need a proxy") && e.lines().count() == 1, "{e}");
        let e = config(args(&["--proxy-remote-url", "up.example"])).unwrap_err().to_string();
        assert!(e.starts_with("invalid proxy settings") && e.lines().count() == 1, "{e}");
    }

    #[test]
    fn bad_config_files_fail_with_one_line_naming_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.yml");
        std::fs::write(&file, "http:\n  addr: 127.0.0.1:1\n  bogus: 1\n").unwrap();
        let e = config(args(&["--config", file.to_str().unwrap()])).unwrap_err().to_string();
        assert!(e.contains(file.to_str().unwrap()) && e.contains("unknown field `bogus`"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        let e = config(args(&["--config", dir.path().join("missing.yml").to_str().unwrap()])).unwrap_err().to_string();
        assert!(e.starts_with("cannot read config file") && e.contains("No such file"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}
