//! Seccomp filters compiled once, loaded by every container that uses them.
//!
//! libcontainer compiles a spec's seccomp profile with libseccomp inside each container's init
//! process, at every start and every exec. For Docker's default profile that is about 6 ms of CPU
//! (2 ms to add some 360 rules for two architectures, 4 ms to generate the BPF program) on the
//! path of every `run`. Nearly every container has the same profile, so Berth compiles it once
//! with the same libseccomp calls libcontainer makes ([`Filter::compile`]), keeps the program in a
//! cache keyed by the profile, the libseccomp version and the kernel release ([`Filter::cached`]),
//! and has the container's init load it right before `execve` through a libcontainer executor
//! ([`FilteredExecutor`]).
//!
//! Without `no_new_privs`, loading a filter needs `CAP_SYS_ADMIN`. libcontainer loads its profile
//! before it drops capabilities; an executor runs after. So when the process neither sets
//! `no_new_privs` nor keeps `CAP_SYS_ADMIN`, [`take_from_spec`] adds `CAP_SYS_ADMIN` to its
//! effective and permitted sets only, never to the bounding, inheritable or ambient sets: execve(2)
//! then takes it away (root's new permitted set is inheritable ∪ bounding ∪ ambient, another
//! user's is the ambient set), so the program starts with exactly the capabilities the spec names.
//!
//! Profiles with `SCMP_ACT_NOTIFY` or a listener (the notification fd must reach a seccomp agent)
//! stay in the spec, for libcontainer to load itself.

use crate::RuntimeError;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{Capability, LinuxSeccomp, Spec};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

/// `SECCOMP_SET_MODE_FILTER` and the filter flags of seccomp(2).
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const FLAG_TSYNC: libc::c_ulong = 1;
const FLAG_LOG: libc::c_ulong = 2;
const FLAG_SPEC_ALLOW: libc::c_ulong = 4;

/// A compiled seccomp filter: a classic BPF program and the flags to load it with.
#[derive(Clone)]
pub struct Filter {
    program: Arc<Vec<libc::sock_filter>>,
    flags: libc::c_ulong,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").field("instructions", &self.program.len()).field("flags", &self.flags).finish()
    }
}

fn invalid(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Invalid(format!("seccomp profile: {e}"))
}

/// The profile as JSON (the OCI names of actions, architectures and operators are libseccomp's).
fn profile_json(profile: &LinuxSeccomp) -> Result<Value, RuntimeError> {
    serde_json::to_value(profile).map_err(invalid)
}

/// Whether libcontainer must load `profile` itself (it hands a notification fd to an agent).
fn needs_agent(p: &Value) -> bool {
    p.get("listenerPath").is_some_and(|v| !v.is_null())
        || p["defaultAction"] == "SCMP_ACT_NOTIFY"
        || p["syscalls"].as_array().is_some_and(|s| s.iter().any(|r| r["action"] == "SCMP_ACT_NOTIFY"))
}

fn action(name: &Value, errno: &Value) -> Result<ScmpAction, RuntimeError> {
    let name = name.as_str().ok_or_else(|| invalid("action is not a string"))?;
    let errno = errno.as_i64().map(|e| e as i32).unwrap_or(libc::EPERM);
    ScmpAction::from_str(name, Some(errno)).map_err(invalid)
}

fn load_flags(p: &Value) -> libc::c_ulong {
    let mut flags = 0;
    for f in p["flags"].as_array().into_iter().flatten() {
        flags |= match f.as_str() {
            Some("SECCOMP_FILTER_FLAG_TSYNC") => FLAG_TSYNC,
            Some("SECCOMP_FILTER_FLAG_LOG") => FLAG_LOG,
            Some("SECCOMP_FILTER_FLAG_SPEC_ALLOW") => FLAG_SPEC_ALLOW,
            _ => 0,
        };
    }
    flags
}

impl Filter {
    /// Compiles `profile` with the libseccomp calls libcontainer's `initialize_seccomp` makes: the
    /// same default action, architectures and rules (a rule whose action is the default is
    /// skipped; syscalls this libseccomp does not know are skipped; comparisons on the same
    /// argument become separate rules). One difference: `SCMP_CMP_MASKED_EQ` is read as runc and
    /// Docker read it, `(argument & value) == valueTwo`. libcontainer 0.7 swaps the two, which turns
    /// Docker's `clone` rule (no namespace flags without `CAP_SYS_ADMIN`) into "any flags".
    /// `Ok(None)`: the profile needs libcontainer (see the module docs).
    pub fn compile(profile: &LinuxSeccomp) -> Result<Option<Filter>, RuntimeError> {
        let p = profile_json(profile)?;
        if needs_agent(&p) {
            return Ok(None);
        }
        let default = action(&p["defaultAction"], &p["defaultErrnoRet"])?;
        let mut ctx = ScmpFilterContext::new(default).map_err(invalid)?;
        for arch in p["architectures"].as_array().into_iter().flatten() {
            let arch = ScmpArch::from_str(arch.as_str().unwrap_or_default()).map_err(invalid)?;
            ctx.add_arch(arch).map_err(invalid)?;
        }
        for rule in p["syscalls"].as_array().into_iter().flatten() {
            let act = action(&rule["action"], &rule["errnoRet"])?;
            if act == default {
                continue;
            }
            let (mut cmps, mut indexes) = (Vec::new(), Vec::new());
            for a in rule["args"].as_array().into_iter().flatten() {
                let index = a["index"].as_u64().ok_or_else(|| invalid("argument without an index"))? as u32;
                let (value, value_two) = (a["value"].as_u64().unwrap_or(0), a["valueTwo"].as_u64().unwrap_or(0));
                // As runc reads it: (argument & value) == valueTwo.
                let (op, datum) = match a["op"].as_str() {
                    Some("SCMP_CMP_MASKED_EQ") => (ScmpCompareOp::MaskedEqual(value), value_two),
                    Some(op) => (ScmpCompareOp::from_str(op).map_err(invalid)?, value),
                    None => return Err(invalid("argument without an operator")),
                };
                indexes.push(index);
                cmps.push(ScmpArgCompare::new(index, op, datum));
            }
            indexes.sort_unstable();
            let duplicate_index = indexes.windows(2).any(|w| w[0] == w[1]);
            for name in rule["names"].as_array().into_iter().flatten().filter_map(|n| n.as_str()) {
                let Ok(sc) = ScmpSyscall::from_name(name) else { continue };
                if cmps.is_empty() {
                    ctx.add_rule(act, sc).map_err(invalid)?;
                } else if duplicate_index {
                    for c in &cmps {
                        ctx.add_rule_conditional(act, sc, std::slice::from_ref(c)).map_err(invalid)?;
                    }
                } else {
                    ctx.add_rule_conditional(act, sc, &cmps).map_err(invalid)?;
                }
            }
        }
        let mut out = tempfile_in_memory()?;
        ctx.export_bpf(&out).map_err(invalid)?;
        let mut bytes = Vec::new();
        out.rewind().and_then(|_| out.read_to_end(&mut bytes)).map_err(|e| RuntimeError::Io { op: "read", path: "seccomp program".into(), source: e })?;
        Ok(Some(Filter::from_program(&bytes, load_flags(&p))?))
    }

    /// [`Filter::compile`] through a cache in `dir`: one file per profile, libseccomp version and
    /// kernel release, holding the program and its SHA-256 (a file that does not match is compiled
    /// again and replaced).
    pub fn cached(profile: &LinuxSeccomp, dir: &Path) -> Result<Option<Filter>, RuntimeError> {
        let p = profile_json(profile)?;
        if needs_agent(&p) {
            return Ok(None);
        }
        let path = dir.join(format!("{}.bpf", cache_key(&p)));
        if let Ok(bytes) = std::fs::read(&path) {
            if let Some((program, digest)) = bytes.split_at_checked(bytes.len().saturating_sub(32)) {
                if !program.is_empty() && Sha256::digest(program).as_slice() == digest {
                    return Ok(Some(Filter::from_program(program, load_flags(&p))?));
                }
            }
            tracing::warn!(path = %path.display(), "replacing a damaged seccomp cache entry");
        }
        let Some(filter) = Filter::compile(profile)? else { return Ok(None) };
        let program = filter.program_bytes();
        let mut file = program.clone();
        file.extend_from_slice(&Sha256::digest(&program));
        let io = |source| RuntimeError::Io { op: "write", path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        berth_types::persist::atomic_write(&path, &file).map_err(io)?;
        Ok(Some(filter))
    }

    fn from_program(bytes: &[u8], flags: libc::c_ulong) -> Result<Filter, RuntimeError> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(8) || bytes.len() / 8 > u16::MAX as usize {
            return Err(invalid(format!("compiled program has {} bytes", bytes.len())));
        }
        let program = bytes
            .chunks_exact(8)
            .map(|i| libc::sock_filter {
                code: u16::from_ne_bytes([i[0], i[1]]),
                jt: i[2],
                jf: i[3],
                k: u32::from_ne_bytes([i[4], i[5], i[6], i[7]]),
            })
            .collect();
        Ok(Filter { program: Arc::new(program), flags })
    }

    fn program_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.program.len() * 8);
        for i in self.program.iter() {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.extend_from_slice(&[i.jt, i.jf]);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Whether the program is empty (never, for a filter that was built).
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// Installs the filter on the calling thread (and, with TSYNC, its siblings). Makes no
    /// allocation, so it may run between fork and exec.
    #[allow(unsafe_code)]
    pub fn load(&self) -> std::io::Result<()> {
        let prog = libc::sock_fprog { len: self.program.len() as u16, filter: self.program.as_ptr() as *mut libc::sock_filter };
        // SAFETY: `prog` points at `self.program`, which outlives the call; the kernel copies it.
        let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, self.flags, &prog as *const libc::sock_fprog) };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// An anonymous in-memory file for libseccomp to write the program into.
#[allow(unsafe_code)]
fn tempfile_in_memory() -> Result<std::fs::File, RuntimeError> {
    // SAFETY: a NUL-terminated name; the returned descriptor is owned by the File.
    let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(RuntimeError::Io { op: "create", path: "memfd".into(), source: std::io::Error::last_os_error() });
    }
    // SAFETY: `fd` was just created and is not owned elsewhere.
    Ok(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn cache_key(profile: &Value) -> String {
    let version = libseccomp::ScmpVersion::current().map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro)).unwrap_or_default();
    let kernel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(version.as_bytes());
    h.update([0]);
    h.update(kernel.as_bytes());
    h.update([0]);
    h.update(profile.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// The effective and permitted sets for an exec's process whose executor loads a filter (see the
/// module docs): `caps`, plus `CAP_SYS_ADMIN` unless `no_new_privs` is set.
pub fn with_load_capability(caps: &[String], no_new_privileges: bool) -> Vec<String> {
    let mut out = caps.to_vec();
    if !no_new_privileges && !out.iter().any(|c| c == "CAP_SYS_ADMIN") {
        out.push("CAP_SYS_ADMIN".into());
    }
    out
}

/// Takes the seccomp profile out of `spec` when it can be precompiled, and lets the process load
/// it (see the module docs). Returns the filter and the profile (which execs in the container
/// need again); `None` when there is no profile or libcontainer has to load it.
pub fn take_from_spec(spec: &mut Spec, cache_dir: &Path) -> Result<Option<(Filter, LinuxSeccomp)>, RuntimeError> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else { return Ok(None) };
    let Some(filter) = Filter::cached(&profile, cache_dir)? else { return Ok(None) };
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(None);
    }
    if let Some(process) = spec.process_mut() {
        let nnp = process.no_new_privileges().unwrap_or(false);
        if let Some(mut caps) = process.capabilities().clone() {
            let effective = caps.effective().clone().unwrap_or_default();
            if !nnp && !effective.contains(&Capability::SysAdmin) {
                let mut eff = effective;
                eff.insert(Capability::SysAdmin);
                let mut perm = caps.permitted().clone().unwrap_or_default();
                perm.insert(Capability::SysAdmin);
                caps.set_effective(Some(eff));
                caps.set_permitted(Some(perm));
                process.set_capabilities(Some(caps));
            }
        }
    }
    Ok(Some((filter, profile)))
}

/// libcontainer's default executor, with a precompiled seccomp filter loaded right before exec.
#[derive(Clone)]
pub struct FilteredExecutor {
    filter: Filter,
}

impl FilteredExecutor {
    /// An executor that loads `filter`.
    pub fn new(filter: Filter) -> FilteredExecutor {
        FilteredExecutor { filter }
    }
}

impl Executor for FilteredExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.filter.load().map_err(|e| ExecutorError::Other(format!("loading the seccomp filter: {e}")))?;
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    fn default_profile() -> LinuxSeccomp {
        let caps: Vec<String> = crate::spec::DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
        serde_json::from_value(crate::seccomp::default_profile(&caps)).unwrap()
    }

    #[test]
    fn compiles_and_caches_the_default_profile() {
        let dir = tempfile::tempdir().unwrap();
        let profile = default_profile();
        let compiled = Filter::compile(&profile).unwrap().unwrap();
        assert!(compiled.len() > 100, "{compiled:?}");
        let first = Filter::cached(&profile, dir.path()).unwrap().unwrap();
        assert_eq!(first.program_bytes(), compiled.program_bytes());
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(files.len(), 1);
        assert_eq!(std::fs::read(&files[0]).unwrap().len(), compiled.len() * 8 + 32);
        // A damaged entry is compiled again and replaced.
        let mut bytes = std::fs::read(&files[0]).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(&files[0], &bytes).unwrap();
        let again = Filter::cached(&profile, dir.path()).unwrap().unwrap();
        assert_eq!(again.program_bytes(), compiled.program_bytes());
        assert_ne!(std::fs::read(&files[0]).unwrap(), bytes);
    }

    #[test]
    fn notify_profiles_are_left_to_libcontainer() {
        let mut p = serde_json::to_value(default_profile()).unwrap();
        p["syscalls"].as_array_mut().unwrap().push(serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}));
        let profile: LinuxSeccomp = serde_json::from_value(p).unwrap();
        assert!(Filter::compile(&profile).unwrap().is_none());
        assert!(Filter::cached(&profile, tempfile::tempdir().unwrap().path()).unwrap().is_none());
    }

    #[test]
    fn the_spec_loses_its_profile_and_gains_the_capability_to_load_it() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::RuntimeConfig { id: "c".into(), args: vec!["true".into()], cgroups_path: "/c".into(), ..Default::default() };
        let mut spec = crate::spec::generate(&cfg, "/r", 0, 0, &[]).unwrap();
        let (_, profile) = take_from_spec(&mut spec, dir.path()).unwrap().unwrap();
        assert!(profile.syscalls().as_ref().is_some_and(|s| !s.is_empty()));
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
        let caps = spec.process().as_ref().unwrap().capabilities().clone().unwrap();
        assert!(caps.effective().as_ref().unwrap().contains(&Capability::SysAdmin));
        assert!(caps.permitted().as_ref().unwrap().contains(&Capability::SysAdmin));
        assert!(!caps.bounding().as_ref().unwrap().contains(&Capability::SysAdmin), "execve must drop it");
        assert!(caps.inheritable().as_ref().is_none_or(|i| i.is_empty()));
        assert!(caps.ambient().as_ref().is_none_or(|a| a.is_empty()));
        // With no_new_privs the process may load it unprivileged: no capability is added.
        let mut spec = crate::spec::generate(&crate::RuntimeConfig { no_new_privileges: true, ..cfg }, "/r", 0, 0, &[]).unwrap();
        take_from_spec(&mut spec, dir.path()).unwrap().unwrap();
        let caps = spec.process().as_ref().unwrap().capabilities().clone().unwrap();
        assert!(!caps.effective().as_ref().unwrap().contains(&Capability::SysAdmin));
    }

    /// A fork-like raw clone(2) with extra `flags`: 0 in the child (which exits at once), else the
    /// child's pid or -errno.
    unsafe fn clone(flags: libc::c_int) -> i64 {
        let r = libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD) as libc::c_ulong, 0usize, 0usize, 0usize, 0usize);
        if r == 0 {
            libc::_exit(0);
        }
        if r < 0 {
            return -(*libc::__errno_location() as i64);
        }
        libc::waitpid(r as libc::pid_t, std::ptr::null_mut(), 0);
        r
    }

    /// Loads the default profile in a child process: what it denies fails with EPERM, what it
    /// allows works, and the kernel reports filter mode.
    #[test]
    fn a_loaded_filter_denies_what_the_profile_denies() {
        let filter = Filter::compile(&default_profile()).unwrap().unwrap();
        let status = b"/proc/self/status\0";
        // SAFETY: the child only makes system calls (no allocation, no locks) and then _exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe {
                let code = if filter.load().is_err() {
                    10
                } else if libc::unshare(libc::CLONE_NEWUTS) == 0 || *libc::__errno_location() != libc::EPERM {
                    11
                } else if libc::getpid() <= 0 || libc::open(status.as_ptr().cast(), libc::O_RDONLY) < 0 {
                    12
                } else if clone(libc::CLONE_NEWUSER) != -libc::EPERM as i64 {
                    // Docker's clone rule: no namespace flags without CAP_SYS_ADMIN.
                    13
                } else if clone(0) <= 0 {
                    14
                } else {
                    0
                };
                libc::_exit(code)
            },
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
