//! The README's "Using it" block, run as written against a daemon of this test's own: the only changes
//! are the socket path (the test daemon's instead of /run/berth/berth.sock) and the published host port
//! (a free one instead of 8080), so the test cannot collide with a daemon or server on the machine.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn using_it_block(readme: &str) -> String {
    let section = &readme[readme.find("## Using it").expect("README has a 'Using it' section")..];
    let start = section.find("```sh\n").expect("a sh block in 'Using it'") + "```sh\n".len();
    let len = section[start..].find("```").expect("the block ends");
    section[start..start + len].to_string()
}

#[test]
fn readme_using_it_block_runs_as_written() {
    let repo = berth_fixtures::workspace_root();
    let block = using_it_block(&std::fs::read_to_string(repo.join("README.md")).unwrap());
    assert!(block.contains("/run/berth/berth.sock") && block.contains("8080"), "the block still names the socket and port this test swaps:\n{block}");
    let d = Daemon::start();
    let port = free_port().to_string();
    let script = block.replace("/run/berth/berth.sock", d.sock.to_str().unwrap()).replace("8080", &port);

    // A scratch working directory with the repository's examples and scripts, so `berth cp` writes there.
    let work = tempfile::tempdir().unwrap();
    for dir in ["examples", "scripts"] {
        std::os::unix::fs::symlink(repo.join(dir), work.path().join(dir)).unwrap();
    }
    let bin_dir = Path::new(BERTH).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(work.path())
        .env("PATH", path)
        .env("BERTH_HOST", format!("unix://{}", d.sock.display()))
        .env("BERTH_FIXTURES", repo.join("target/fixtures"))
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "the README block failed ({:?})\nstdout:\n{so}\nstderr:\n{se}", out.status.code());
    // What a reader would look for in the output of each step.
    assert!(so.contains("Hello from Berth"), "the example image greets:\n{so}");
    assert_eq!(so.matches("hello from api").count(), 3, "wget, curl and cp each show the page:\n{so}");
    assert!(so.contains("\nhi\n"), "the volume kept what the first container wrote:\n{so}");
    assert!(so.contains("CONTAINER ID"), "docker ps -a ran against Berth:\n{so}");
    // The block cleans up after itself.
    assert_eq!(d.berth_ok(&["ps", "-aq"]).trim(), "");
    assert!(!d.berth_ok(&["network", "ls"]).contains(" app "));
    assert!(!d.berth_ok(&["volume", "ls", "-q"]).contains("data"));
}
