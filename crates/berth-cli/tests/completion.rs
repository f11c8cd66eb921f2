//! `berth completion bash|zsh|fish` and `berth man`, driven through the real shells (with Debian's
//! bash-completion) and `man -l` (scripts/setup.sh installs them).

mod common;
use common::*;
use std::process::Command;

/// Writes `berth completion SHELL` into `dir` and returns its path.
fn script(dir: &std::path::Path, shell: &str) -> std::path::PathBuf {
    let o = Command::new(BERTH).args(["completion", shell]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.len() > 1000, "a real script for {shell}");
    let path = dir.join(format!("berth.{shell}"));
    std::fs::write(&path, &o.stdout).unwrap();
    path
}

/// What bash completes for the words `line` (the last one being completed), as bash-completion
/// calls the function `complete -p berth` names.
fn bash_complete(script: &std::path::Path, line: &[&str]) -> Vec<String> {
    let words = line.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ");
    let prog = format!(
        r#"source /usr/share/bash-completion/bash_completion || exit 10
source '{script}' || exit 11
fn=$(complete -p berth | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
[ -n "$fn" ] || exit 12
COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}
"$fn" berth "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script = script.display()
    );
    let o = Command::new("bash").args(["--norc", "--noprofile", "-c", &prog]).output().expect("bash");
    assert!(o.status.success(), "bash failed ({:?}): {}", o.status.code(), stderr(&o));
    stdout(&o).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[test]
fn bash_completes_commands_subcommands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "bash");
    assert_eq!(bash_complete(&s, &["berth", "ru"]), ["run"]);
    let subs = bash_complete(&s, &["berth", "network", "c"]);
    assert_eq!(subs, ["create", "connect"]);
    assert_eq!(bash_complete(&s, &["berth", "run", "--env-f"]), ["--env-file"]);
    assert_eq!(bash_complete(&s, &["berth", "completion", "z"]), ["zsh"]);
    assert!(bash_complete(&s, &["berth", "sh"]).is_empty(), "the internal shim is not offered");
}

#[test]
fn zsh_loads_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "zsh");
    let o = Command::new("zsh")
        .args(["-f", "-c", &format!("autoload -U compinit && compinit -u -d '{}/zcompdump' && source '{}' && whence -w _berth", dir.path().display(), s.display())])
        .output()
        .expect("zsh");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "_berth: function");
}

#[test]
fn fish_completes_from_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "fish");
    let o = Command::new("fish")
        .args(["--no-config", "-c", &format!("source '{}'; complete -C 'berth ru'; complete -C 'berth run --label-f'", s.display())])
        .output()
        .expect("fish");
    assert!(o.status.success() && stderr(&o).is_empty(), "{}", stderr(&o));
    let out = stdout(&o);
    let words: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap_or("")).collect();
    assert_eq!(words, ["run", "--label-file"]);
}

#[test]
fn man_pages_render_with_man() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let o = Command::new(BERTH).args(["man", "--dir"]).arg(&pages).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for page in ["berth.1", "berth-run.1", "berth-container-run.1", "berth-network-create.1", "berth-daemon.1"] {
        assert!(pages.join(page).is_file(), "{page} missing");
    }
    assert!(!pages.join("berth-shim.1").exists(), "internal commands get no page");
    let render = |page: &str| {
        let o = Command::new("man").args(["-l", "-P", "cat"]).arg(pages.join(page)).env("MANWIDTH", "100").output().expect("man (man-db)");
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!stderr(&o).contains("warning"), "{page}: {}", stderr(&o));
        stdout(&o)
    };
    let run = render("berth-run.1");
    assert!(run.contains("berth-run - Create and run a new container from an image"), "{run}");
    assert!(run.contains("--env-file") && run.contains("-h, --hostname"), "{run}");
    let root = render("berth.1");
    assert!(root.contains("berth-container(1)"), "{root}");
}
