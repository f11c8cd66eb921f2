//! `docker cp` semantics of `berth_snapshot::copy`, against real trees in temp dirs (run as root:
//! owners, devices and `trusted.*`-free xattrs are set for real).
//!
//! Every sandbox is `tmp/root` (the container root) beside `tmp/outside` (the host, holding a
//! sentinel). Hostile cases plant symlinks in the root pointing out of it, and check that nothing
//! outside is ever read into an archive or written by an extraction.

use berth_snapshot::copy::{self, ArchiveOptions, CopyError, ExtractOptions, PathStat};
use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps};
use std::collections::HashMap;
use std::fs;
use std::io::Cursor;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tar::EntryType;

const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-ROOT";
const MTIME: i64 = 1_600_000_000;

/// `tmp/root` and `tmp/outside/{secret, dir/}`; the outside is checked untouched on request.
struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("tmp")).unwrap();
        fs::write(root.join("etc/hostname"), b"root-hostname\n").unwrap();
        fs::create_dir_all(outside.join("dir")).unwrap();
        fs::write(outside.join("secret"), SECRET).unwrap();
        fs::write(outside.join("dir/secret"), SECRET).unwrap();
        Sandbox {
            _tmp: tmp,
            root,
            outside,
        }
    }

    fn assert_outside_untouched(&self) {
        assert_eq!(
            describe(&self.outside),
            vec![
                "dir dir uid=0 gid=0".to_string(),
                format!(
                    "dir/secret file:{} uid=0 gid=0",
                    String::from_utf8_lossy(SECRET)
                ),
                format!(
                    "secret file:{} uid=0 gid=0",
                    String::from_utf8_lossy(SECRET)
                ),
            ],
            "the outside of the root was modified"
        );
        assert_eq!(
            fs::metadata(self.outside.join("secret")).unwrap().nlink(),
            1
        );
    }
}

/// Type, owner and content of every node below `dir` (modes/times only where asked, via `full`).
fn describe(dir: &Path) -> Vec<String> {
    describe_with(dir, false)
}

fn describe_with(dir: &Path, full: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut inodes = HashMap::new();
    walk(dir, Path::new(""), full, &mut inodes, &mut out);
    out
}

fn walk(
    dir: &Path,
    rel: &Path,
    full: bool,
    inodes: &mut HashMap<u64, String>,
    out: &mut Vec<String>,
) {
    let mut names: Vec<_> = fs::read_dir(dir.join(rel))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let p = dir.join(&rel);
        let m = fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let what = if ft.is_symlink() {
            format!("symlink->{}", fs::read_link(&p).unwrap().display())
        } else if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_file() {
            match inodes.get(&m.ino()) {
                Some(first) => format!("hardlink->{first}"),
                None => {
                    inodes.insert(m.ino(), rel.display().to_string());
                    format!("file:{}", String::from_utf8_lossy(&fs::read(&p).unwrap()))
                }
            }
        } else {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_fifo() {
                "fifo".to_string()
            } else {
                format!(
                    "dev:{}:{}",
                    rustix::fs::major(m.rdev()),
                    rustix::fs::minor(m.rdev())
                )
            }
        };
        let mut line = format!("{} {what} uid={} gid={}", rel.display(), m.uid(), m.gid());
        if full {
            line.push_str(&format!(
                " mode={:o} mtime={}",
                m.mode() & 0o7777,
                m.mtime()
            ));
            if let Some(x) = xattr(&p, "user.test") {
                line.push_str(&format!(" user.test={}", String::from_utf8_lossy(&x)));
            }
        }
        out.push(line);
        if ft.is_dir() {
            walk(dir, &rel, full, inodes, out);
        }
    }
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn set_times(path: &Path, secs: i64) {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// One entry of an archive, as the tests look at it.
struct Entry {
    path: String,
    kind: EntryType,
    uid: u64,
    gid: u64,
    mode: u32,
    link: String,
    data: Vec<u8>,
}

fn entries(tar_bytes: &[u8]) -> Vec<Entry> {
    let mut a = tar::Archive::new(tar_bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let path = e.path().unwrap().display().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            Entry {
                path,
                kind: h.entry_type(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mode: h.mode().unwrap(),
                link,
                data,
            }
        })
        .collect()
}

fn names(tar_bytes: &[u8]) -> Vec<String> {
    entries(tar_bytes).into_iter().map(|e| e.path).collect()
}

fn archive(root: &Path, path: &str, follow_link: bool) -> Result<(PathStat, Vec<u8>), CopyError> {
    let mut out = Vec::new();
    let stat = copy::archive(root, path, &ArchiveOptions { follow_link, ..Default::default() }, &mut out)?;
    Ok((stat, out))
}

fn preserve() -> ExtractOptions {
    ExtractOptions {
        preserve_owner: true,
        ..ExtractOptions::default()
    }
}

/// A tar with raw entry names (the `tar` builder refuses `..` and absolute names, hostile archives
/// do not).
#[derive(Default)]
struct RawTar(Vec<u8>);

impl RawTar {
    fn entry(mut self, name: &str, kind: EntryType, link: &str, data: &[u8]) -> RawTar {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(MTIME as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        if !link.is_empty() {
            h.set_link_name_literal(link).unwrap();
        }
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().next_multiple_of(512), 0);
        self
    }
    fn file(self, name: &str, data: &[u8]) -> RawTar {
        self.entry(name, EntryType::Regular, "", data)
    }
    fn dir(self, name: &str) -> RawTar {
        self.entry(name, EntryType::Directory, "", b"")
    }
    fn symlink(self, name: &str, target: &str) -> RawTar {
        self.entry(name, EntryType::Symlink, target, b"")
    }
    fn hardlink(self, name: &str, target: &str) -> RawTar {
        self.entry(name, EntryType::Link, target, b"")
    }
    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0
    }
}

fn extract(
    root: &Path,
    dir: &str,
    tar_bytes: &[u8],
    opts: &ExtractOptions,
) -> Result<(), CopyError> {
    copy::extract(root, dir, Cursor::new(tar_bytes), opts)
}

/// A tree with every kind of node, owners, modes, times, a hard link and an xattr.
fn build_tree(src: &Path) {
    fs::create_dir_all(src.join("d/e")).unwrap();
    fs::write(src.join("d/f"), b"file f").unwrap();
    chown(&src.join("d/f"), 1000, 1001);
    chmod(&src.join("d/f"), 0o640);
    fs::hard_link(src.join("d/f"), src.join("d/e/h")).unwrap();
    fs::write(src.join("suid"), b"#!").unwrap();
    chmod(&src.join("suid"), 0o4755);
    symlink("d/f", src.join("rel-link")).unwrap();
    symlink("/etc/hostname", src.join("abs-link")).unwrap();
    chown(&src.join("abs-link"), 7, 8);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("null"),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let long = "x".repeat(120);
    fs::write(src.join("d").join(&long), b"long name").unwrap();
    rustix::fs::setxattr(
        src.join("d/f"),
        "user.test",
        b"kept",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    chmod(&src.join("d/e"), 0o1777);
    chown(&src.join("d"), 5, 6);
    chmod(&src.join("d"), 0o750);
    for p in [
        "d/f", "suid", "rel-link", "abs-link", "null", "fifo", "d/e", "d", "",
    ] {
        set_times(&src.join(p), MTIME);
    }
    set_times(&src.join("d").join(&long), MTIME);
}

#[test]
fn archive_then_extract_round_trips_a_tree() {
    let sb = Sandbox::new();
    build_tree(&sb.root.join("src"));
    let (stat, tar_bytes) = archive(&sb.root, "/src", false).unwrap();
    assert!(stat.is_dir());
    assert_eq!(stat.name, "src");

    let list = entries(&tar_bytes);
    let ns: Vec<&str> = list.iter().map(|e| e.path.as_str()).collect();
    let long = format!("src/d/{}", "x".repeat(120));
    // Sorted by name at every level; the archived directory leads.
    assert_eq!(
        ns,
        [
            "src",
            "src/abs-link",
            "src/d",
            "src/d/e",
            "src/d/e/h",
            "src/d/f",
            long.as_str(),
            "src/fifo",
            "src/null",
            "src/rel-link",
            "src/suid"
        ]
    );
    let by_name: HashMap<&str, _> = list.iter().map(|e| (e.path.as_str(), e)).collect();
    assert_eq!(by_name["src/d/e/h"].kind, EntryType::Regular);
    assert_eq!(
        by_name["src/d/f"].kind,
        EntryType::Link,
        "second path of an inode is a link"
    );
    assert_eq!(by_name["src/d/f"].link, "src/d/e/h");
    assert_eq!(by_name["src/abs-link"].kind, EntryType::Symlink);
    assert_eq!(by_name["src/abs-link"].link, "/etc/hostname");
    assert_eq!(
        (by_name["src/abs-link"].uid, by_name["src/abs-link"].gid),
        (7, 8)
    );
    assert_eq!(by_name["src/null"].kind, EntryType::Char);
    assert_eq!(by_name["src/fifo"].kind, EntryType::Fifo);
    assert_eq!(by_name["src/suid"].mode, 0o4755);

    // Deterministic: the same tree gives the same bytes.
    assert_eq!(archive(&sb.root, "/src", false).unwrap().1, tar_bytes);

    fs::create_dir(sb.root.join("dst")).unwrap();
    extract(&sb.root, "/dst", &tar_bytes, &preserve()).unwrap();
    assert_eq!(
        describe_with(&sb.root.join("dst/src"), true),
        describe_with(&sb.root.join("src"), true)
    );
    let d = describe_with(&sb.root.join("dst/src"), true);
    assert!(d.iter().any(
        |l| l.starts_with("d/f hardlink->d/e/h uid=1000 gid=1001 mode=640")
            && l.ends_with("user.test=kept")
    ));
    assert!(d
        .iter()
        .any(|l| l.starts_with("d dir uid=5 gid=6 mode=750 mtime=1600000000")));
    assert!(d
        .iter()
        .any(|l| l.starts_with("d/e dir uid=0 gid=0 mode=1777")));
    sb.assert_outside_untouched();
}

#[test]
fn dot_suffix_archives_contents_relative_to_the_directory() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.root.join("src/b")).unwrap();
    fs::write(sb.root.join("src/a"), b"a").unwrap();
    fs::write(sb.root.join("src/b/c"), b"c").unwrap();
    let (stat, tar_bytes) = archive(&sb.root, "/src/.", false).unwrap();
    assert!(stat.is_dir());
    // Docker's names for contents: the directory as `./`, its children below `./`.
    assert_eq!(names(&tar_bytes), ["./", "./a", "./b/", "./b/c"]);
    // A trailing slash still names the directory itself.
    let (_, tar_bytes) = archive(&sb.root, "/src/", false).unwrap();
    assert_eq!(names(&tar_bytes), ["src", "src/a", "src/b", "src/b/c"]);
    // The root's contents.
    let (stat, tar_bytes) = archive(&sb.root, "/", false).unwrap();
    assert_eq!(stat.name, "/");
    assert_eq!(names(&tar_bytes)[0], "etc");
    // A single file is named by its base name.
    let (stat, tar_bytes) = archive(&sb.root, "/src/b/c", false).unwrap();
    assert_eq!((stat.name.as_str(), stat.size), ("c", 1));
    assert_eq!(entries(&tar_bytes)[0].path, "c");
    assert_eq!(entries(&tar_bytes)[0].data, b"c");

    // Extracting contents merges into an existing directory.
    fs::create_dir_all(sb.root.join("dst/b")).unwrap();
    fs::write(sb.root.join("dst/keep"), b"k").unwrap();
    let (_, tar_bytes) = archive(&sb.root, "/src/.", false).unwrap();
    extract(&sb.root, "/dst", &tar_bytes, &preserve()).unwrap();
    assert_eq!(
        describe(&sb.root.join("dst")),
        [
            "a file:a uid=0 gid=0",
            "b dir uid=0 gid=0",
            "b/c file:c uid=0 gid=0",
            "keep file:k uid=0 gid=0"
        ]
    );
}

#[test]
fn stat_reports_files_dirs_and_resolved_symlinks() {
    let sb = Sandbox::new();
    let r = &sb.root;
    fs::create_dir_all(r.join("data/sub")).unwrap();
    fs::write(r.join("data/file"), b"12345").unwrap();
    chmod(&r.join("data/file"), 0o4750);
    symlink("data/sub", r.join("l1")).unwrap();
    symlink("/l1/../file", r.join("l2")).unwrap();
    symlink("../../../../etc", r.join("data/up")).unwrap();
    set_times(&r.join("data/file"), MTIME);

    let s = copy::stat(r, "/data/file").unwrap();
    assert_eq!(
        s,
        PathStat {
            name: "file".into(),
            size: 5,
            mode: 0o750 | 1 << 23,
            mtime: "2020-09-13T12:26:40Z".into(),
            link_target: String::new(),
        }
    );
    let s = copy::stat(r, "/data").unwrap();
    assert!(s.is_dir() && s.mode & 0o777 == 0o755 && s.link_target.is_empty());
    // The final symlink is not followed; its target is reported resolved in the root.
    let s = copy::stat(r, "/l1").unwrap();
    assert!(s.is_symlink());
    assert_eq!(s.link_target, "/data/sub");
    // `..` in a link target applies to where the link led, as in the kernel (`/data/sub/..`).
    assert_eq!(copy::stat(r, "/l2").unwrap().link_target, "/data/file");
    assert_eq!(copy::stat(r, "/data/up").unwrap().link_target, "/etc");
    // Intermediate symlinks are followed, in the root.
    assert_eq!(copy::stat(r, "/data/up/hostname").unwrap().size, 14);
    assert_eq!(copy::stat(r, "/l1/").unwrap().name, "l1");
    assert!(copy::stat(r, "/l1/").unwrap().is_dir());
    assert_eq!(copy::stat(r, "/").unwrap().name, "/");

    assert!(matches!(copy::stat(r, "/nope"), Err(CopyError::NotFound(p)) if p == "/nope"));
    assert!(matches!(
        copy::stat(r, "/data/file/x"),
        Err(CopyError::NotFound(_))
    ));
    assert!(matches!(
        copy::stat(r, "/data/file/"),
        Err(CopyError::NotADirectory(_))
    ));
}

#[test]
fn follow_link_archives_the_target_under_the_links_name() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.root.join("etc/conf.d")).unwrap();
    fs::write(sb.root.join("etc/conf.d/a.conf"), b"x=1").unwrap();
    symlink("/etc/conf.d", sb.root.join("link")).unwrap();
    symlink("etc/hostname", sb.root.join("flink")).unwrap();

    let (stat, tar_bytes) = archive(&sb.root, "/link", false).unwrap();
    assert!(stat.is_symlink());
    assert_eq!(stat.link_target, "/etc/conf.d");
    let list = entries(&tar_bytes);
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].path.as_str(), list[0].kind),
        ("link", EntryType::Symlink)
    );
    assert_eq!(list[0].link, "/etc/conf.d");

    let (stat, tar_bytes) = archive(&sb.root, "/link", true).unwrap();
    assert!(stat.is_dir());
    assert_eq!(stat.name, "link");
    assert_eq!(names(&tar_bytes), ["link", "link/a.conf"]);

    let (stat, tar_bytes) = archive(&sb.root, "/flink", true).unwrap();
    assert!(!stat.is_symlink());
    assert_eq!(stat.size, 14);
    assert_eq!(entries(&tar_bytes)[0].path, "flink");
    assert_eq!(entries(&tar_bytes)[0].data, b"root-hostname\n");
}

#[test]
fn rebase_renames_the_first_component() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.root.join("src/dir/sub")).unwrap();
    fs::write(sb.root.join("src/file.txt"), b"f").unwrap();
    fs::write(sb.root.join("src/dir/sub/g"), b"g").unwrap();
    fs::hard_link(sb.root.join("src/dir/sub/g"), sb.root.join("src/dir/g2")).unwrap();
    fs::create_dir(sb.root.join("dst")).unwrap();

    let (_, t) = archive(&sb.root, "/src/file.txt", false).unwrap();
    let opts = ExtractOptions {
        rebase: Some(("file.txt".into(), "renamed.txt".into())),
        ..preserve()
    };
    extract(&sb.root, "/dst", &t, &opts).unwrap();
    let (_, t) = archive(&sb.root, "/src/dir", false).unwrap();
    let opts = ExtractOptions {
        rebase: Some(("dir".into(), "newdir".into())),
        ..preserve()
    };
    extract(&sb.root, "/dst", &t, &opts).unwrap();
    assert_eq!(
        describe(&sb.root.join("dst")),
        [
            "newdir dir uid=0 gid=0",
            "newdir/g2 file:g uid=0 gid=0",
            "newdir/sub dir uid=0 gid=0",
            "newdir/sub/g hardlink->newdir/g2 uid=0 gid=0",
            "renamed.txt file:f uid=0 gid=0"
        ]
    );
    let bad = ExtractOptions {
        rebase: Some(("dir".into(), "../x".into())),
        ..preserve()
    };
    assert!(matches!(
        extract(&sb.root, "/dst", &t, &bad),
        Err(CopyError::Refused(_))
    ));
}

#[test]
fn owners_come_from_the_options_unless_preserved() {
    let sb = Sandbox::new();
    let t = tar_with_owner(4242);
    fs::create_dir(sb.root.join("a")).unwrap();
    fs::create_dir(sb.root.join("b")).unwrap();
    let opts = ExtractOptions {
        owner: (100_000, 100_001),
        ..ExtractOptions::default()
    };
    extract(&sb.root, "/a", &t, &opts).unwrap();
    assert_eq!(
        describe(&sb.root.join("a")),
        [
            "implied dir uid=100000 gid=100001",
            "implied/f file:data uid=100000 gid=100001"
        ]
    );
    let opts = ExtractOptions {
        owner: (100_000, 100_001),
        preserve_owner: true,
        ..ExtractOptions::default()
    };
    extract(&sb.root, "/b", &t, &opts).unwrap();
    assert_eq!(
        describe(&sb.root.join("b")),
        [
            "implied dir uid=100000 gid=100001",
            "implied/f file:data uid=4242 gid=4242"
        ]
    );
}

fn tar_with_owner(id: u64) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(EntryType::Regular);
    h.set_size(4);
    h.set_mode(0o644);
    h.set_uid(id);
    h.set_gid(id);
    b.append_data(&mut h, "implied/f", &b"data"[..]).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn no_overwrite_dir_non_dir_refuses_type_changes() {
    let sb = Sandbox::new();
    let dst = sb.root.join("dst");
    fs::create_dir_all(dst.join("x")).unwrap();
    fs::write(dst.join("x/keep"), b"k").unwrap();
    fs::write(dst.join("y"), b"y").unwrap();
    let strict = ExtractOptions {
        no_overwrite_dir_non_dir: true,
        ..preserve()
    };
    let file_over_dir = RawTar::default().file("x", b"file").finish();
    let dir_over_file = RawTar::default().dir("y/").finish();
    let err = extract(&sb.root, "/dst", &file_over_dir, &strict).unwrap_err();
    assert!(
        matches!(&err, CopyError::Refused(m) if m.contains("cannot overwrite directory")),
        "{err}"
    );
    let err = extract(&sb.root, "/dst", &dir_over_file, &strict).unwrap_err();
    assert!(
        matches!(&err, CopyError::Refused(m) if m.contains("cannot overwrite non-directory")),
        "{err}"
    );
    assert_eq!(
        describe(&dst),
        [
            "x dir uid=0 gid=0",
            "x/keep file:k uid=0 gid=0",
            "y file:y uid=0 gid=0"
        ]
    );
    // Same type merges or replaces fine under the option.
    let same = RawTar::default().dir("x/").file("y", b"new").finish();
    extract(&sb.root, "/dst", &same, &strict).unwrap();
    // Without it, both are replaced.
    extract(&sb.root, "/dst", &file_over_dir, &preserve()).unwrap();
    extract(&sb.root, "/dst", &dir_over_file, &preserve()).unwrap();
    assert_eq!(
        describe(&dst),
        ["x file:file uid=0 gid=0", "y dir uid=0 gid=0"]
    );
}

#[test]
fn extraction_point_must_exist_and_be_a_directory() {
    let sb = Sandbox::new();
    let t = RawTar::default().file("f", b"x").finish();
    assert!(matches!(
        extract(&sb.root, "/missing", &t, &preserve()),
        Err(CopyError::NotFound(p)) if p == "/missing"
    ));
    assert!(matches!(
        extract(&sb.root, "/etc/hostname", &t, &preserve()),
        Err(CopyError::NotADirectory(_))
    ));
    // A symlink to a directory is followed (in the root).
    symlink("/tmp", sb.root.join("tmplink")).unwrap();
    extract(&sb.root, "/tmplink", &t, &preserve()).unwrap();
    assert!(sb.root.join("tmp/f").is_file());
}

/// Plants `evil -> /`, `up -> ../../..`, `out -> <abs outside>` and `rel -> ../outside`.
fn plant_escapes(sb: &Sandbox) {
    symlink("/", sb.root.join("evil")).unwrap();
    symlink("../../..", sb.root.join("up")).unwrap();
    symlink(&sb.outside, sb.root.join("out")).unwrap();
    symlink("../outside", sb.root.join("rel")).unwrap();
    symlink(sb.outside.join("secret"), sb.root.join("secret-link")).unwrap();
}

#[test]
fn symlinks_pointing_out_of_the_root_resolve_inside_it() {
    let sb = Sandbox::new();
    plant_escapes(&sb);
    let r = &sb.root;

    // Reads through the planted links see the root's own files.
    assert_eq!(copy::stat(r, "/evil/etc/hostname").unwrap().size, 14);
    assert_eq!(copy::stat(r, "/up/etc/hostname").unwrap().size, 14);
    for path in [
        "/up/etc/hostname",
        "/evil/etc/hostname",
        "/up/up/evil/etc/../etc/hostname",
    ] {
        let (_, t) = archive(r, path, false).unwrap();
        assert_eq!(entries(&t)[0].data, b"root-hostname\n", "{path}");
    }
    // The outside is unreachable: its host paths do not exist in the root.
    let outside = sb.outside.display().to_string();
    assert_eq!(copy::stat(r, "/out").unwrap().link_target, outside);
    assert_eq!(copy::stat(r, "/rel").unwrap().link_target, "/outside");
    for path in ["/out/secret", "/rel/secret", "/out/", "/rel/dir/."] {
        assert!(
            matches!(archive(r, path, false), Err(CopyError::NotFound(_))),
            "{path}"
        );
        assert!(
            matches!(copy::stat(r, path), Err(CopyError::NotFound(_))),
            "{path}"
        );
    }
    for path in ["/out", "/rel", "/secret-link"] {
        assert!(
            matches!(archive(r, path, true), Err(CopyError::NotFound(_))),
            "{path}"
        );
        // Without -L the link itself is archived, not what it names.
        let (_, t) = archive(r, path, false).unwrap();
        assert_eq!(entries(&t)[0].kind, EntryType::Symlink);
    }
    // The whole root, links and all, never holds the secret.
    let (_, t) = archive(r, "/", false).unwrap();
    assert!(!contains(&t, SECRET));
    let (_, t) = archive(r, "/evil/.", true).unwrap();
    assert!(!contains(&t, SECRET));

    // Writes through them land in the root.
    let name = format!("berth-copy-test-{}", std::process::id());
    let t = RawTar::default().file(&name, b"in root").finish();
    extract(r, "/evil/tmp", &t, &preserve()).unwrap();
    extract(r, "/up/tmp", &t, &preserve()).unwrap();
    assert_eq!(fs::read(r.join("tmp").join(&name)).unwrap(), b"in root");
    assert!(
        !Path::new("/tmp").join(&name).exists(),
        "wrote to the host's /tmp"
    );
    for dir in ["/out", "/rel", "/out/dir", "/rel/dir"] {
        assert!(
            matches!(
                extract(r, dir, &t, &preserve()),
                Err(CopyError::NotFound(_))
            ),
            "{dir}"
        );
    }
    // Replacing a planted link replaces the link, not what it names.
    let t = RawTar::default().file("secret-link", b"replaced").finish();
    extract(r, "/", &t, &preserve()).unwrap();
    assert_eq!(fs::read(r.join("secret-link")).unwrap(), b"replaced");
    sb.assert_outside_untouched();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn hostile_entry_names_are_refused_without_writing_outside() {
    let sb = Sandbox::new();
    fs::create_dir(sb.root.join("dst")).unwrap();
    let outside_secret = sb.outside.join("secret").display().to_string();
    for (t, what) in [
        (RawTar::default().file("../x", b"x").finish(), "parent"),
        (
            RawTar::default().file("a/../../x", b"x").finish(),
            "nested parent",
        ),
        (
            RawTar::default()
                .file("../../outside/secret", b"x")
                .finish(),
            "parent to sentinel",
        ),
        (
            RawTar::default().file(&outside_secret, b"x").finish(),
            "absolute",
        ),
        (RawTar::default().file("/x", b"x").finish(), "absolute"),
        (
            RawTar::default()
                .file("f", b"x")
                .hardlink("h", "../../outside/secret")
                .finish(),
            "hard link up",
        ),
        (
            RawTar::default().hardlink("h", &outside_secret).finish(),
            "hard link absolute",
        ),
    ] {
        let err = extract(&sb.root, "/dst", &t, &preserve());
        assert!(matches!(err, Err(CopyError::Refused(_))), "{what}: {err:?}");
    }
    assert!(!sb.root.join("x").exists() && !sb.root.parent().unwrap().join("x").exists());
    sb.assert_outside_untouched();
}

#[test]
fn symlink_entries_cannot_carry_later_entries_out_of_the_root() {
    let sb = Sandbox::new();
    fs::create_dir(sb.root.join("dst")).unwrap();
    let outside = sb.outside.display().to_string();
    let outside_secret = format!("{outside}/secret");
    let cases = [
        RawTar::default()
            .symlink("l", &outside)
            .file("l/f", b"pwned")
            .finish(),
        RawTar::default()
            .symlink("l", &outside)
            .file("l/secret", b"pwned")
            .finish(),
        RawTar::default()
            .symlink("l", "../../outside")
            .file("l/secret", b"pwned")
            .finish(),
        RawTar::default()
            .symlink("l", &outside_secret)
            .file("l", b"pwned")
            .finish(),
        RawTar::default()
            .symlink("l", &outside)
            .dir("l/dir/")
            .file("l/dir/secret", b"pwned")
            .finish(),
        RawTar::default()
            .symlink("l", &outside)
            .hardlink("h", "l/secret")
            .finish(),
        RawTar::default()
            .symlink("l", &outside_secret)
            .hardlink("h", "l")
            .file("h", b"pwned")
            .finish(),
    ];
    for (i, t) in cases.iter().enumerate() {
        // Each either fails or writes inside the root; which one does not matter here.
        let result = extract(&sb.root, "/dst", t, &preserve());
        sb.assert_outside_untouched();
        if i == 2 {
            // `../../outside` resolves to the root's own (absent) `/outside`.
            assert!(result.is_err(), "{result:?} {:?}", describe(&sb.root));
        }
    }
    // `l -> /etc` then `l/x`: the root's `/etc`, as a chrooted untar would.
    let t = RawTar::default()
        .symlink("l2", "/etc")
        .file("l2/x", b"in root etc")
        .finish();
    extract(&sb.root, "/dst", &t, &preserve()).unwrap();
    assert_eq!(fs::read(sb.root.join("etc/x")).unwrap(), b"in root etc");
    assert!(!Path::new("/etc/x").exists() || fs::read("/etc/x").unwrap() != b"in root etc");
    sb.assert_outside_untouched();
}

/// Swaps `root/<name>` with each of the given symlinks in turn (`renameat2(RENAME_EXCHANGE)`, the
/// CVE-2018-15664 proof of concept) until dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Swapper {
    fn start(dir: &Path, name: &str, targets: &[PathBuf]) -> Swapper {
        let mut links = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let link = dir.join(format!("{name}.swap{i}"));
            symlink(t, &link).unwrap();
            links.push(link);
        }
        let real = dir.join(name);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !flag.load(Ordering::Relaxed) {
                for link in &links {
                    // Swap in, then straight back out.
                    for _ in 0..2 {
                        rustix::fs::renameat_with(
                            rustix::fs::CWD,
                            &real,
                            rustix::fs::CWD,
                            link,
                            rustix::fs::RenameFlags::EXCHANGE,
                        )
                        .unwrap();
                        swaps += 1;
                    }
                }
            }
            swaps
        });
        Swapper {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn racing_symlink_swaps_never_reach_outside_the_root() {
    let sb = Sandbox::new();
    let r = &sb.root;
    fs::create_dir_all(r.join("d/sub")).unwrap();
    fs::write(r.join("d/f"), b"inside").unwrap();
    fs::write(r.join("d/secret"), b"inside").unwrap();
    fs::write(r.join("d/sub/secret"), b"inside").unwrap();
    // Swapped for a link to the host's outside dir, to the root, and to a relative escape.
    let swapper = Swapper::start(
        r,
        "d",
        &[
            sb.outside.clone(),
            PathBuf::from("/"),
            PathBuf::from("../outside"),
            sb.outside.join("dir"),
        ],
    );
    let payload = RawTar::default()
        .dir("n/")
        .file("n/g", b"written")
        .file("secret", b"pwned")
        .file("sub/secret", b"pwned")
        .finish();
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    let (mut archived, mut extracted) = (0, 0);
    while std::time::Instant::now() < deadline {
        for (path, follow) in [
            ("/d", false),
            ("/d/secret", false),
            ("/d/.", false),
            ("/d/sub", true),
        ] {
            if let Ok((_, t)) = archive(r, path, follow) {
                assert!(
                    !contains(&t, SECRET),
                    "archive of {path} read outside the root"
                );
                archived += 1;
            }
        }
        for dir in ["/d", "/d/sub"] {
            if extract(r, dir, &payload, &preserve()).is_ok() {
                extracted += 1;
            }
        }
    }
    let swaps = swapper.finish();
    assert!(swaps > 100, "the swapper barely ran ({swaps} swaps)");
    assert!(
        archived > 0 && extracted > 0,
        "{archived} archives, {extracted} extractions"
    );
    sb.assert_outside_untouched();
}

#[test]
fn racing_swaps_of_a_nested_directory_never_reach_outside() {
    let sb = Sandbox::new();
    let r = &sb.root;
    fs::create_dir_all(r.join("a/b/c")).unwrap();
    fs::write(r.join("a/b/c/secret"), b"inside").unwrap();
    let swapper = Swapper::start(
        &r.join("a"),
        "b",
        &[sb.outside.clone(), PathBuf::from("../../../outside")],
    );
    let payload = RawTar::default().file("c/secret", b"pwned").finish();
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1000);
    while std::time::Instant::now() < deadline {
        if let Ok((_, t)) = archive(r, "/a/b/c/secret", false) {
            assert!(!contains(&t, SECRET));
        }
        if let Ok((_, t)) = archive(r, "/a", false) {
            assert!(!contains(&t, SECRET));
        }
        let _ = extract(r, "/a/b", &payload, &preserve());
        let _ = copy::stat(r, "/a/b/c/secret");
    }
    swapper.finish();
    sb.assert_outside_untouched();
}

/// A process in its own mount namespace with a tmpfs on `dir` that only it sees; killed on drop.
struct MountNsProcess(std::process::Child);

impl MountNsProcess {
    fn start(dir: &Path) -> MountNsProcess {
        use std::io::BufRead;
        let script = format!(
            "mount -t tmpfs tmpfs '{0}' && echo in-namespace > '{0}/f' && echo ready && exec sleep 60",
            dir.display()
        );
        let mut child = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let proc = MountNsProcess(child);
        assert_eq!(line.trim(), "ready");
        proc
    }

    fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.0.id()))
    }
}

impl Drop for MountNsProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn proc_pid_root_lookups_cross_the_containers_own_mounts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("volume");
    fs::create_dir(&dir).unwrap();
    let ns = MountNsProcess::start(&dir);
    let root = ns.root();
    let in_ns = dir.display().to_string();

    // The process's tmpfs is seen through its root, not on the host.
    let (_, t) = archive(&root, &format!("{in_ns}/f"), false).unwrap();
    assert_eq!(entries(&t)[0].data, b"in-namespace\n");
    assert!(!dir.join("f").exists());
    assert_eq!(copy::stat(&root, &format!("{in_ns}/f")).unwrap().size, 13);

    let payload = RawTar::default().file("g", b"copied in").finish();
    extract(&root, &in_ns, &payload, &preserve()).unwrap();
    assert_eq!(
        fs::read(root.join(dir.strip_prefix("/").unwrap()).join("g")).unwrap(),
        b"copied in"
    );
    assert!(!dir.join("g").exists());
}
