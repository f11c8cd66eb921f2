//! Seccomp: Docker's default profile (an allow-list with EPERM as default action, and syscalls that
//! need a capability allowed only when the container has it), and conversion of Docker-format
//! profiles (`--security-opt seccomp=profile.json`) into the OCI form, resolving their
//! `includes`/`excludes` against the container's capabilities.

use crate::RuntimeError;
use serde_json::{json, Value};

/// Syscalls every container may make.
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir", "chmod",
    "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
    "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range",
    "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
    "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
    "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
    "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
    "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
    "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc",
    "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
    "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat",
    "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl",
    "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
    "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "ptrace", "pwrite64", "pwritev", "pwritev2", "read",
    "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
    "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
    "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
    "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
    "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt",
    "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair",
    "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
    "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
    "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
    "waitpid", "write", "writev", "arch_prctl", "modify_ldt",
];

/// Syscalls allowed only with a capability.
const BY_CAP: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount",
            "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
            "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Namespace flags `clone` may not use without CAP_SYS_ADMIN (NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET).
const CLONE_NS_MASK: u64 = 0x7E02_0000;

/// Docker's default profile in Docker's own format.
fn default_docker_profile() -> Value {
    let mut syscalls = vec![
        json!({"names": ALLOWED, "action": "SCMP_ACT_ALLOW"}),
        json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}),
        json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}),
        json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}),
        json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]}),
        json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 131080, "op": "SCMP_CMP_EQ"}]}),
        json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]}),
        json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": CLONE_NS_MASK, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
               "excludes": {"caps": ["CAP_SYS_ADMIN"]}}),
        // clone3 cannot be filtered by flags: make libc fall back to clone.
        json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}}),
    ];
    for (cap, names) in BY_CAP {
        syscalls.push(json!({"names": names, "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}}));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": syscalls,
    })
}

/// Docker's default profile for a container with `caps`, in OCI form.
pub fn default_profile(caps: &[String]) -> Value {
    from_docker_profile(&default_docker_profile(), caps).unwrap_or(Value::Null)
}

fn native_arches() -> Vec<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "aarch64" => vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        _ => vec![],
    }
}

/// Whether this kernel runs x32 system calls (probed once with x32 `getpid`; ENOSYS means no).
#[allow(unsafe_code)]
fn kernel_runs_x32() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static X32: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *X32.get_or_init(|| {
            const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
            // SAFETY: getpid takes no arguments and has no effect; an unsupported ABI returns ENOSYS.
            let r = unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) };
            !(r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Converts a Docker-format profile into the OCI `linux.seccomp` object for a container with `caps`.
pub fn from_docker_profile(p: &Value, caps: &[String]) -> Result<Value, RuntimeError> {
    let obj = p.as_object().ok_or_else(|| RuntimeError::Invalid("seccomp profile must be a JSON object".into()))?;
    let default_action = obj
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| RuntimeError::Invalid("seccomp profile has no defaultAction".into()))?;
    let mut arches: Vec<Value> = obj.get("architectures").and_then(Value::as_array).cloned().unwrap_or_default();
    if arches.is_empty() {
        let native = native_arches();
        if let Some(map) = obj.get("archMap").and_then(Value::as_array) {
            for m in map {
                let a = m["architecture"].as_str().unwrap_or("");
                if native.contains(&a) {
                    arches.push(json!(a));
                    arches.extend(m["subArchitectures"].as_array().cloned().unwrap_or_default());
                }
            }
        }
    }
    let has = |list: &Value| list.as_array().is_some_and(|l| l.iter().filter_map(Value::as_str).all(|c| caps.iter().any(|h| h == c)));
    let mut out = Vec::new();
    for s in obj.get("syscalls").and_then(Value::as_array).cloned().unwrap_or_default() {
        if let Some(inc) = s.get("includes").and_then(|i| i.get("caps")) {
            if !has(inc) {
                continue;
            }
        }
        if let Some(exc) = s.get("excludes").and_then(|i| i.get("caps")) {
            if exc.as_array().is_some_and(|l| l.iter().filter_map(Value::as_str).any(|c| caps.iter().any(|h| h == c))) {
                continue;
            }
        }
        let mut names: Vec<Value> = s.get("names").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(n) = s.get("name").and_then(Value::as_str) {
            names.push(json!(n));
        }
        if names.is_empty() {
            continue;
        }
        let action = s.get("action").and_then(Value::as_str).ok_or_else(|| RuntimeError::Invalid("seccomp rule without action".into()))?;
        let mut rule = json!({"names": names, "action": action});
        if let Some(args) = s.get("args").filter(|a| !a.is_null()) {
            rule["args"] = args.clone();
        }
        if let Some(e) = s.get("errnoRet") {
            rule["errnoRet"] = e.clone();
        }
        out.push(rule);
    }
    // x32 system calls carry the x86_64 audit arch with bit 30 set in the number. A kernel built
    // without x32 rejects them before any filter matters, so the x32 part of the filter only costs:
    // libseccomp takes ~7 of the ~15 ms it spends compiling Docker's profile on it.
    if !kernel_runs_x32() {
        arches.retain(|a| a.as_str() != Some("SCMP_ARCH_X32"));
    }
    let mut v = json!({"defaultAction": default_action, "architectures": arches, "syscalls": out});
    if let Some(e) = obj.get("defaultErrnoRet") {
        v["defaultErrnoRet"] = e.clone();
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_gated_syscalls_follow_caps() {
        let base: Vec<String> = crate::spec::DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
        let p = default_profile(&base);
        let names: Vec<String> = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()))
            .collect();
        assert!(names.contains(&"chroot".to_string()));
        assert!(!names.contains(&"mount".to_string()));
        assert!(!names.contains(&"reboot".to_string()));
        let mut admin = base.clone();
        admin.push("CAP_SYS_ADMIN".into());
        let p = default_profile(&admin);
        assert!(p["syscalls"].as_array().unwrap().iter().any(|r| r["names"].as_array().unwrap().iter().any(|n| n == "mount")));
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
    }

    #[test]
    fn bad_profiles_are_rejected() {
        assert!(from_docker_profile(&json!([1]), &[]).is_err());
        assert!(from_docker_profile(&json!({"syscalls": []}), &[]).is_err());
    }
}

#[cfg(test)]
mod x32_tests {
    use super::*;

    #[test]
    fn x32_is_filtered_only_where_the_kernel_runs_it() {
        let p = default_profile(&[]);
        let arches: Vec<&str> = p["architectures"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        if cfg!(target_arch = "x86_64") {
            assert!(arches.contains(&"SCMP_ARCH_X86_64") && arches.contains(&"SCMP_ARCH_X86"), "{arches:?}");
            assert_eq!(arches.contains(&"SCMP_ARCH_X32"), kernel_runs_x32(), "{arches:?}");
        }
    }
}
