//! `berth registry` on a free loopback port (or an address of the test's choice), stopped with
//! SIGTERM when dropped.

use super::{terminate, wait_tcp, BERTH};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

pub struct Registry {
    child: Option<Child>,
    /// `IP:PORT` it listens on.
    pub addr: String,
    pub port: u16,
    _dir: Option<tempfile::TempDir>,
}

/// How to start a [`Registry`]: its storage root, address, log level and extra flags.
pub struct RegistryOpts {
    root: Option<PathBuf>,
    addr: Option<String>,
    log_level: String,
    extra: Vec<String>,
}

impl Registry {
    /// A registry with its storage in a temp dir of its own, on a free loopback port.
    pub fn start() -> Registry {
        Registry::opts().start()
    }

    pub fn opts() -> RegistryOpts {
        RegistryOpts { root: None, addr: None, log_level: "warn".into(), extra: Vec::new() }
    }

    /// `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops it with SIGTERM (SIGKILL after 10 s); its exit status when it stopped by itself.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.child.take().and_then(|mut c| terminate(&mut c, Duration::from_secs(10)))
    }
}

impl RegistryOpts {
    /// Storage under `DIR/reg` instead of a temp dir of its own.
    pub fn root(mut self, dir: &Path) -> RegistryOpts {
        self.root = Some(dir.join("reg"));
        self
    }

    /// Listen on `addr` (`IP:PORT`) instead of a free loopback port.
    pub fn addr(mut self, addr: &str) -> RegistryOpts {
        self.addr = Some(addr.to_string());
        self
    }

    pub fn log_level(mut self, level: &str) -> RegistryOpts {
        self.log_level = level.to_string();
        self
    }

    pub fn args(mut self, extra: &[&str]) -> RegistryOpts {
        self.extra.extend(extra.iter().map(|s| s.to_string()));
        self
    }

    /// Starts it and waits (up to 10 s) until it accepts connections.
    pub fn start(self) -> Registry {
        let addr = self.addr.unwrap_or_else(super::free_addr);
        let port: u16 = addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("IP:PORT");
        let dir = if self.root.is_none() { Some(tempfile::tempdir().unwrap()) } else { None };
        let root = self.root.unwrap_or_else(|| dir.as_ref().unwrap().path().join("reg"));
        let child = Command::new(BERTH)
            .args(["registry", "--listen", &addr, "--root"])
            .arg(root)
            .args(["--log-level", &self.log_level])
            .args(&self.extra)
            .spawn()
            .expect("spawn berth registry");
        let mut r = Registry { child: Some(child), addr, port, _dir: dir };
        assert!(wait_tcp(&r.addr, Duration::from_secs(10)), "registry did not come up on {}", r.addr);
        if let Some(Ok(Some(st))) = r.child.as_mut().map(|c| c.try_wait()) {
            panic!("registry exited: {st}");
        }
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
