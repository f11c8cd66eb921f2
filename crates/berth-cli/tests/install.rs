//! `scripts/install.sh` into a staging root (DESTDIR), with the binaries under test: everything lands
//! where Debian's tools look for it, the units point at the prefix, the config is valid and an
//! existing one is kept.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn install(dest: &Path) -> std::process::Output {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new("bash")
        .arg(repo.join("scripts/install.sh"))
        .env("DESTDIR", dest)
        .env("PREFIX", "/opt/berth")
        .env("BIN_DIR", Path::new(BERTH).parent().unwrap())
        .output()
        .unwrap()
}

#[test]
fn install_sh_stages_binaries_units_completions_man_pages_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = install(d);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    for f in ["opt/berth/bin/berth", "opt/berth/bin/berth-shim"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(d.join(f)).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o755, "{f}");
    }
    let service = std::fs::read_to_string(d.join("etc/systemd/system/berth.service")).unwrap();
    assert!(service.contains("ExecStart=/opt/berth/bin/berth daemon -H fd://"), "{service}");
    assert!(d.join("etc/systemd/system/berth.socket").is_file());
    let bash = std::fs::read_to_string(d.join("opt/berth/share/bash-completion/completions/berth")).unwrap();
    assert!(bash.contains("complete") && bash.contains("berth"));
    assert!(std::fs::read_to_string(d.join("opt/berth/share/zsh/site-functions/_berth")).unwrap().starts_with("#compdef berth"));
    assert!(d.join("opt/berth/share/fish/vendor_completions.d/berth.fish").is_file());
    // man -l renders the installed page.
    let man = Command::new("man").arg("-l").arg(d.join("opt/berth/share/man/man1/berth-daemon.1")).env("MANPAGER", "cat").env("MANWIDTH", "200").output().unwrap();
    assert!(man.status.success() && stdout(&man).contains("--config-file"), "{}", stderr(&man));
    let config = std::fs::read_to_string(d.join("etc/berth/daemon.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(v["data-root"], "/var/lib/berth");
    // A second install keeps the operator's configuration.
    std::fs::write(d.join("etc/berth/daemon.json"), r#"{"labels": ["mine=1"]}"#).unwrap();
    let o = install(d);
    assert!(o.status.success() && stdout(&o).contains("keeping the existing"), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(std::fs::read_to_string(d.join("etc/berth/daemon.json")).unwrap(), r#"{"labels": ["mine=1"]}"#);
}
