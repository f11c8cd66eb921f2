//! TLS settings of the client and the daemon, resolved as the docker CLI and dockerd resolve them
//! (`cli/flags/options.go`): `--tlsverify` (or a non-empty `DOCKER_TLS_VERIFY`) turns TLS on and
//! verifies the peer; the files default to `ca.pem`, `cert.pem` and `key.pem` in
//! `DOCKER_CERT_PATH` (else `~/.docker`); a default client certificate or key that does not exist
//! is simply not used, a named one must exist. `BERTH_TLS_VERIFY` and `BERTH_CERT_PATH` win over
//! their `DOCKER_` forms.

use crate::cli::TlsFlags;
use berth_client::ClientTls;
use std::path::PathBuf;

/// `BERTH_NAME`, else `DOCKER_NAME`, if set and not empty.
pub fn env(name: &str) -> Option<String> {
    [format!("BERTH_{name}"), format!("DOCKER_{name}")].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// The directory of the default TLS files: `BERTH_CERT_PATH`, `DOCKER_CERT_PATH`, else `~/.docker`.
pub fn cert_dir() -> PathBuf {
    if let Some(d) = env("CERT_PATH") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker")
}

/// Whether `DOCKER_TLS_VERIFY` (or `BERTH_TLS_VERIFY`) asks for verification.
pub fn verify_from_env() -> bool {
    env("TLS_VERIFY").is_some()
}

/// The client's TLS, or None for plain connections.
pub fn client_tls(f: &TlsFlags) -> Option<ClientTls> {
    let verify = f.tlsverify.unwrap_or_else(verify_from_env);
    if !(f.tls || verify || f.tlsverify.is_some()) {
        return None;
    }
    let dir = cert_dir();
    // A default file that is not there is not used (the docker CLI resets it); a named one is.
    let or_default = |named: &Option<PathBuf>, file: &str| named.clone().or_else(|| Some(dir.join(file)).filter(|p| p.exists()));
    Some(ClientTls { verify, ca: or_default(&f.tlscacert, "ca.pem"), cert: or_default(&f.tlscert, "cert.pem"), key: or_default(&f.tlskey, "key.pem") })
}

/// How the daemon guards its API: TLS on TCP, and the unix socket's group.
pub struct ApiSecurity {
    /// TLS for TCP listeners.
    pub tls: Option<berth_daemon::tls::ServerTls>,
    /// `--tls=false` given: a non-loopback TCP listener without TLS is allowed (and warned about).
    pub plain_tcp_allowed: bool,
    /// The unix socket's group.
    pub socket_group: berth_daemon::listen::SocketGroup,
}

/// The daemon's `tls`, `tlsverify`, `tlscacert`, `tlscert`, `tlskey` and `group`, from its flags or
/// daemon.json, as dockerd resolves them: `tlsverify` given at all turns TLS on; its default is
/// `DOCKER_TLS_VERIFY` being set; files default to `DOCKER_CERT_PATH` or `~/.docker`.
pub fn daemon_api_security(a: &crate::cli::DaemonArgs, file: &serde_json::Map<String, serde_json::Value>) -> Result<ApiSecurity, String> {
    use super::daemon_config::pick;
    let tls_flag = pick(a.tls, file, "tls")?;
    let verify_flag = pick(a.tlsverify, file, "tlsverify")?;
    let verify = verify_flag.unwrap_or_else(verify_from_env);
    let on = tls_flag == Some(true) || verify || verify_flag.is_some();
    let dir = cert_dir();
    let file_of = |named: Option<PathBuf>, default: &str| named.unwrap_or_else(|| dir.join(default));
    let tls = if on {
        Some(berth_daemon::tls::ServerTls {
            cert: file_of(pick(a.tlscert.clone(), file, "tlscert")?, "cert.pem"),
            key: file_of(pick(a.tlskey.clone(), file, "tlskey")?, "key.pem"),
            client_ca: verify.then(|| pick(a.tlscacert.clone(), file, "tlscacert")).transpose()?.map(|ca| file_of(ca, "ca.pem")),
        })
    } else {
        for key in ["tlscacert", "tlscert", "tlskey"] {
            if file.contains_key(key) {
                return Err(format!("{key} is set but TLS is off: add \"tls\": true or \"tlsverify\": true"));
            }
        }
        if a.tlscacert.is_some() || a.tlscert.is_some() || a.tlskey.is_some() {
            return Err("--tlscacert, --tlscert and --tlskey need --tls or --tlsverify".into());
        }
        None
    };
    let socket_group = match pick::<String>(a.group.clone(), file, "group")? {
        Some(g) if g.is_empty() => return Err("group must not be empty".into()),
        Some(g) => berth_daemon::listen::SocketGroup::Named(g),
        None => berth_daemon::listen::SocketGroup::Default,
    };
    Ok(ApiSecurity { tls, plain_tcp_allowed: tls_flag == Some(false) && !on, socket_group })
}
