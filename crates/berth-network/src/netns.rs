//! Network namespaces kept alive by a bind mount, and running code inside one.
//!
//! A namespace made by [`NetNs::create`] lives as long as its nsfs file is bind-mounted somewhere,
//! the way `ip netns add` keeps `/run/netns/<name>`: no process needs to stay in it. The daemon is a
//! multi-threaded tokio process, so a thread's namespace is only ever changed on a fresh, dedicated
//! `std::thread` that exits afterwards; a tokio worker never leaves the host namespace.
//!
//! This module also owns the crate's error type, [`NetError`], shared by every module.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::statfs;

/// The nsfs file of the calling thread's network namespace (Linux ≥ 3.17).
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// Every failure of Berth's networking code. Messages are one line: what was being done, on what,
/// and the kernel's reason (`creating bridge berth0: File exists`).
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A system call on a path failed (netns files, mounts).
    #[error("{op} {}: {}", path.display(), errno.desc())]
    Sys {
        /// What was being done, e.g. "bind-mounting network namespace onto".
        op: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The kernel's error.
        errno: Errno,
    },
    /// A system call not tied to a path failed (unshare, setns, thread creation).
    #[error("{op}: {}", errno.desc())]
    Os {
        /// What was being done.
        op: &'static str,
        /// The kernel's error.
        errno: Errno,
    },
    /// A file expected to be a network namespace is something else.
    #[error("{} is not a network namespace", path.display())]
    NotNetns {
        /// The offending path.
        path: PathBuf,
    },
    /// The kernel refused a netlink request.
    #[error("{op}: {}", errno.desc())]
    Netlink {
        /// What was being done, with the object's name ("creating bridge berth0").
        op: String,
        /// The error the kernel answered with.
        errno: Errno,
    },
    /// The netlink exchange itself failed (socket closed, unexpected or malformed reply).
    #[error("{op}: netlink protocol failure: {detail}")]
    NetlinkProtocol {
        /// What was being done.
        op: String,
        /// rtnetlink's description of the failure.
        detail: String,
    },
    /// A link the operation needs does not exist.
    #[error("no such network interface: {name}")]
    LinkNotFound {
        /// The missing link's name.
        name: String,
    },
    /// A link that should be a bridge exists with another kind.
    #[error("network interface {name} exists and is not a bridge")]
    NotBridge {
        /// The link's name.
        name: String,
    },
    /// A name or value the kernel would reject anyway, caught early.
    #[error("invalid interface name {name:?}: {reason}")]
    InvalidIfname {
        /// The rejected name.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// Docker: `invalid subnet 10.1.2.3/16 : it should be 10.1.0.0/16`, or a subnet too small.
    #[error("invalid subnet {subnet}: {reason}")]
    InvalidSubnet {
        /// The subnet as given.
        subnet: ipnet::Ipv4Net,
        /// Why it is rejected.
        reason: String,
    },
    /// `--ip-range` with host bits set.
    #[error("invalid ip-range {range}: it should be {expected}")]
    InvalidIpRange {
        /// The range as given.
        range: ipnet::Ipv4Net,
        /// The range with host bits cleared.
        expected: ipnet::Ipv4Net,
    },
    /// `--gateway` outside the subnet, or its network or broadcast address.
    #[error("gateway {gateway} not in subnet {subnet}")]
    GatewayNotInSubnet {
        /// The gateway as given.
        gateway: std::net::Ipv4Addr,
        /// The network's subnet.
        subnet: ipnet::Ipv4Net,
    },
    /// `--ip-range` not contained in the subnet.
    #[error("ip-range {range} not in subnet {subnet}")]
    IpRangeNotInSubnet {
        /// The range as given.
        range: ipnet::Ipv4Net,
        /// The network's subnet.
        subnet: ipnet::Ipv4Net,
    },
    /// Every allocatable address is taken (Docker's `ErrNoAvailableIPs` text).
    #[error("no available IPv4 addresses on this network's address pools")]
    NoAvailableAddresses,
    /// `--ip` outside the subnet (Docker's wording).
    #[error("no configured subnet or ip-range contain the IP address {ip}")]
    AddressOutOfRange {
        /// The requested address.
        ip: std::net::Ipv4Addr,
    },
    /// `--ip` is the subnet's network or broadcast address.
    #[error("address {ip} is reserved in subnet {subnet}")]
    AddressReserved {
        /// The requested address.
        ip: std::net::Ipv4Addr,
        /// The network's subnet.
        subnet: ipnet::Ipv4Net,
    },
    /// An auxiliary address (`AuxiliaryAddresses`) outside the network's subnet (libnetwork's words).
    #[error("auxiliary address: ({name}:{ip}) must belong to the master pool: {subnet}")]
    AuxAddressOutOfPool {
        /// The address's name.
        name: String,
        /// The address.
        ip: std::net::Ipv4Addr,
        /// The subnet.
        subnet: ipnet::Ipv4Net,
    },
    /// `--ip` already given out, or the gateway (Docker's `ErrIPAlreadyAllocated` text).
    #[error("Address already in use")]
    AddressInUse {
        /// The requested address.
        ip: std::net::Ipv4Addr,
    },
    /// An IPv6 subnet with host bits set or too small for a gateway and a container.
    #[error("invalid subnet {subnet}: {reason}")]
    InvalidSubnet6 {
        /// The subnet as given.
        subnet: ipnet::Ipv6Net,
        /// What is wrong with it.
        reason: String,
    },
    /// An IPv6 `--gateway` outside the subnet, or its subnet-router address.
    #[error("gateway {gateway} not in subnet {subnet}")]
    GatewayNotInSubnet6 {
        /// The gateway as given.
        gateway: std::net::Ipv6Addr,
        /// The network's subnet.
        subnet: ipnet::Ipv6Net,
    },
    /// An IPv6 `--ip-range` with host bits set or not inside the subnet.
    #[error("ip-range {range} not in subnet {subnet}")]
    IpRangeNotInSubnet6 {
        /// The range as given.
        range: ipnet::Ipv6Net,
        /// The network's subnet.
        subnet: ipnet::Ipv6Net,
    },
    /// Every allocatable IPv6 address is taken (Docker's `ErrNoAvailableIPs` text).
    #[error("no available IPv6 addresses on this network's address pools")]
    NoAvailableAddresses6,
    /// `--ip6` outside the subnet (dockerd 20.10's wording).
    #[error("Invalid address {ip}: It does not belong to any of this network's subnets")]
    AddressOutOfSubnet6 {
        /// The requested address.
        ip: std::net::Ipv6Addr,
    },
    /// `--ip6` already given out, the gateway or the subnet-router address (dockerd's
    /// `ErrIPAlreadyAllocated` text).
    #[error("Address already in use")]
    AddressInUse6 {
        /// The requested address.
        ip: std::net::Ipv6Addr,
    },
}

impl NetError {
    /// The kernel's errno behind this error, when there is one (e.g. to treat `EEXIST` as success).
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NetError::Sys { errno, .. } | NetError::Os { errno, .. } => Some(*errno),
            NetError::Netlink { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    pub(crate) fn sys(op: &'static str, path: &Path, errno: Errno) -> NetError {
        NetError::Sys {
            op,
            path: path.to_path_buf(),
            errno,
        }
    }

    pub(crate) fn sys_io(op: &'static str, path: &Path, err: &io::Error) -> NetError {
        NetError::sys(op, path, io_errno(err))
    }
}

/// The errno of an I/O error; std's file APIs only fail with OS errors, EIO stands in otherwise.
pub(crate) fn io_errno(err: &io::Error) -> Errno {
    err.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, NetError>;

/// A network namespace, identified by a path to its nsfs file and held open by a descriptor (so a
/// `/proc/PID/ns/net` handle stays valid even if that process exits and its PID is reused).
#[derive(Debug)]
pub struct NetNs {
    path: PathBuf,
    fd: OwnedFd,
}

impl NetNs {
    /// Creates a new network namespace kept alive by a bind mount of its nsfs file at `path`
    /// (parent directories are created; `path` must not exist yet). The namespace is made on a
    /// dedicated thread that exits afterwards, so this is safe to call from a tokio worker. The
    /// loopback device inside is brought up. On failure nothing is left behind.
    pub fn create(path: &Path) -> Result<NetNs> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| NetError::sys_io("creating directory", parent, &e))?;
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| NetError::sys_io("creating network namespace file", path, &e))?;
        let target = path.to_path_buf();
        let made = std::thread::Builder::new()
            .name("berth-netns-new".into())
            .spawn(move || new_netns_on_this_thread(&target))
            .map_err(|e| NetError::Os {
                op: "spawning network namespace thread",
                errno: io_errno(&e),
            })
            .and_then(join);
        match made.and_then(|()| NetNs::open(path)) {
            Ok(ns) => Ok(ns),
            Err(err) => {
                // Best effort: the error that matters is the one already in hand.
                let _ = NetNs::remove(path);
                Err(err)
            }
        }
    }

    /// Opens an existing network namespace: a file bind-mounted by [`NetNs::create`] (or
    /// `ip netns add`), or `/proc/PID/ns/net`. Fails if the file is not a network namespace.
    pub fn open(path: &Path) -> Result<NetNs> {
        let file = File::open(path)
            .map_err(|e| NetError::sys_io("opening network namespace", path, &e))?;
        let fs = statfs::fstatfs(&file)
            .map_err(|e| NetError::sys("inspecting network namespace", path, e))?;
        if fs.filesystem_type() != statfs::NSFS_MAGIC {
            return Err(NetError::NotNetns {
                path: path.to_path_buf(),
            });
        }
        Ok(NetNs {
            path: path.to_path_buf(),
            fd: file.into(),
        })
    }

    /// The path this namespace was created or opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unmounts the namespace file at `path` (lazily, `MNT_DETACH`) and unlinks it. Succeeds if
    /// it is already gone or was never mounted. The namespace itself dies once no process, open
    /// descriptor (such as a live [`NetNs`]) or socket holds it.
    pub fn remove(path: &Path) -> Result<()> {
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            // EINVAL: not a mount point (already unmounted); ENOENT: no such file.
            Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(NetError::sys("unmounting network namespace", path, e)),
        }
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetError::sys_io(
                "removing network namespace file",
                path,
                &e,
            )),
        }
    }

    /// Runs `f` on a fresh thread that has joined this namespace, and returns its result. Sockets
    /// `f` creates (netlink, TCP/UDP listeners) stay in this namespace after it returns. Blocks the
    /// caller until `f` is done, so `f` should be short. A panic in `f` is resumed in the caller.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| NetError::sys_io("duplicating descriptor of", &self.path, &e))?;
        let path = self.path.clone();
        let thread = std::thread::Builder::new()
            .name("berth-netns-run".into())
            .spawn(move || {
                nix::sched::setns(fd, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| NetError::sys("entering network namespace", &path, e))?;
                Ok(f())
            })
            .map_err(|e| NetError::Os {
                op: "spawning network namespace thread",
                errno: io_errno(&e),
            })?;
        join(thread)
    }
}

impl AsFd for NetNs {
    /// The namespace's nsfs descriptor, e.g. for `IFLA_NET_NS_FD`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Joins a namespace thread, resuming its panic in the caller (a panic there is a bug in the
/// closure, exactly as if it had run on the calling thread).
fn join<T>(thread: std::thread::JoinHandle<T>) -> T {
    match thread.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Body of the dedicated thread of [`NetNs::create`]: unshare, pin by bind mount, bring `lo` up.
fn new_netns_on_this_thread(target: &Path) -> Result<()> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|errno| NetError::Os {
        op: "creating network namespace",
        errno,
    })?;
    nix::mount::mount(
        Some(THREAD_NETNS),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| NetError::sys("bind-mounting network namespace onto", target, e))?;
    // This thread has no runtime of its own; a current-thread one drives the netlink socket
    // (created here, so inside the new namespace) for the one request.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| NetError::Os {
            op: "starting netlink runtime",
            errno: io_errno(&e),
        })?;
    rt.block_on(crate::link::set_up_here("lo"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_one_line_with_the_kernel_reason() {
        let e = NetError::Netlink {
            op: "creating bridge berth0".into(),
            errno: Errno::EEXIST,
        };
        assert_eq!(e.to_string(), "creating bridge berth0: File exists");
        let e = NetError::sys("opening network namespace", Path::new("/x"), Errno::ENOENT);
        assert_eq!(
            e.to_string(),
            "opening network namespace /x: No such file or directory"
        );
        assert_eq!(e.errno(), Some(Errno::ENOENT));
    }

    #[test]
    fn remove_of_missing_path_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        NetNs::remove(&dir.path().join("absent")).unwrap();
    }

    #[test]
    fn open_rejects_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plain");
        fs::write(&p, b"").unwrap();
        assert!(matches!(NetNs::open(&p), Err(NetError::NotNetns { .. })));
    }
}
