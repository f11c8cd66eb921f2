//! Real containers from the Debian bookworm minbase image (glibc, bash, dpkg, a full /etc/passwd):
//! isolation as seen from inside, users, limits, exec with and without a TTY, through berth and the
//! stock docker CLI.

mod common;
use common::*;

fn with_debian() -> Daemon {
    let d = Daemon::start();
    let img = debian_tarball();
    d.berth_ok(&["import", "-c", "CMD [\"/bin/bash\"]", img.to_str().unwrap(), "debian:bookworm"]);
    d
}

fn run(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["run", "--rm"];
    full.extend_from_slice(args);
    let o = d.berth(&full);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

#[test]
fn debian_containers_are_isolated_and_limited_as_with_docker() {
    let d = with_debian();
    let (code, out, err) = run(&d, &["--hostname", "deb", "debian:bookworm", "bash", "-c",
        "grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; hostname; id; cat /etc/debian_version; \
         dpkg-query -W -f '${Package}\\n' bash; echo keys=$(wc -c < /proc/keys); \
         echo timer=$(wc -c < /proc/timer_list); echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro-proc-sys"]);
    assert_eq!(code, 0, "{err}");
    // Docker's 14 default capabilities, the default seccomp filter.
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("\ndeb\n"), "{out}");
    // Docker's clone rule: plain forks work, namespace flags need CAP_SYS_ADMIN. Raw clone(2) with
    // CLONE_NEWUSER, from perl (`syscall` returns the child's pid, 0 in the child).
    let clone = "$r = syscall(56, 0x10000000 | 17, 0, 0, 0, 0); exit 0 if $r == 0; print $r > 0 ? \"cloned\" : \"denied: $!\"";
    let (_, denied, err) = run(&d, &["debian:bookworm", "perl", "-e", clone]);
    assert_eq!(denied, "denied: Operation not permitted", "{err}");
    let (_, cloned, err) = run(&d, &["--cap-add", "SYS_ADMIN", "debian:bookworm", "perl", "-e", clone]);
    assert_eq!(cloned, "cloned", "{err}");
    let (_, forked, _) = run(&d, &["debian:bookworm", "bash", "-c", "echo $(echo forked | cat)"]);
    assert_eq!(forked.trim(), "forked");
    assert!(out.contains("uid=0(root) gid=0(root) groups=0(root)"), "{out}");
    assert!(out.contains("12."), "bookworm: {out}");
    assert!(out.lines().any(|l| l == "bash"), "{out}");
    // Masked paths read as /dev/null; /proc/sys is read-only (this kernel has no /proc/kcore).
    assert!(out.contains("keys=0\n") && out.contains("timer=0\n"), "masked /proc paths: {out}");
    assert!(out.contains("ro-proc-sys"), "{out}");
    // Users from the image's /etc/passwd, by name and by uid:gid.
    let (_, out, _) = run(&d, &["-u", "nobody", "debian:bookworm", "id"]);
    assert_eq!(out.trim(), "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)");
    let (_, out, _) = run(&d, &["-u", "33:33", "debian:bookworm", "id", "-un"]);
    assert_eq!(out.trim(), "www-data");
    // A fork bomb is stopped by --pids-limit: it never gets more than 40 processes.
    d.berth_ok(&["run", "-d", "--name", "bomb", "--pids-limit", "40", "debian:bookworm", "bash", "-c", "for i in $(seq 200); do sleep 60 & done; wait"]);
    let mut seen = 0;
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        seen = d.berth_ok(&["top", "bomb"]).lines().count().saturating_sub(1);
        if d.berth_ok(&["logs", "bomb"]).contains("Resource temporarily unavailable") || stderr(&d.berth(&["logs", "bomb"])).contains("Resource temporarily unavailable") {
            break;
        }
    }
    assert!(seen > 10 && seen <= 40, "the bomb ran into the limit: {seen} processes");
    assert!(stderr(&d.berth(&["logs", "bomb"])).contains("Resource temporarily unavailable"), "bash could not fork past the limit");
    d.berth_ok(&["rm", "-f", "bomb"]);
    // An allocation beyond --memory is killed: exit 137, OOMKilled.
    d.berth(&["run", "--name", "hog", "-m", "32m", "--memory-swap", "32m", "debian:bookworm", "bash", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"]);
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", "hog"]).trim(), "137 true");
}

#[test]
fn exec_with_and_without_a_tty_in_debian() {
    let d = with_debian();
    d.berth_ok(&["run", "-d", "--name", "deb", "-e", "FROM_RUN=1", "debian:bookworm", "sleep", "300"]);
    let out = d.berth_ok(&["exec", "deb", "bash", "-c", "tty; echo $FROM_RUN; echo err >&2"]);
    assert_eq!(out, "not a tty\n1\n");
    let out = d.berth_ok(&["exec", "-t", "deb", "bash", "-c", "tty; stty size"]);
    assert!(out.starts_with("/dev/pts/"), "{out}");
    let out = d.berth_ok(&["exec", "-u", "nobody", "-w", "/tmp", "deb", "bash", "-c", "id -u; pwd"]);
    assert_eq!(out, "65534\n/tmp\n");
    // The same through the docker CLI.
    assert_eq!(d.docker_ok(&["exec", "deb", "cat", "/etc/hostname"]).trim(), &d.berth_ok(&["inspect", "-f", "{{.Id}}", "deb"]).trim()[..12]);
    assert!(d.docker_ok(&["exec", "-t", "deb", "tty"]).starts_with("/dev/pts/"));
    let o = d.docker(&["exec", "deb", "bash", "-c", "exit 42"]);
    assert_eq!(o.status.code(), Some(42));
    let out = d.docker_ok(&["run", "--rm", "--pids-limit", "25", "-m", "64m", "debian:bookworm", "bash", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"]);
    assert_eq!(out.trim(), "25");
}
