//! Volumes, bind and tmpfs mounts, `--volumes-from` and `cp` (hostile cases included), through
//! berth's CLI and the stock docker CLI, as a user checks them.

mod common;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};


/// `berth run --rm ARGS`: exit code, stdout, stderr.
fn run(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["run", "--rm"];
    full.extend_from_slice(args);
    let o = d.berth(&full);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

/// `berth run --rm ARGS`, asserting success; stdout.
fn run_ok(d: &Daemon, args: &[&str]) -> String {
    let (code, out, err) = run(d, args);
    assert_eq!(code, 0, "run {args:?}: {out}{err}");
    out
}

/// A detached container running forever.
fn start_sleeper(d: &Daemon, name: &str, extra: &[&str]) {
    let mut a = vec!["run", "-d", "--name", name];
    a.extend_from_slice(extra);
    a.extend_from_slice(&["busybox", "sh", "-c", "while true; do sleep 1; done"]);
    d.berth_ok(&a);
}

/// `sh -c SCRIPT` in a running container, asserting success; stdout.
fn sh(d: &Daemon, ctr: &str, script: &str) -> String {
    d.berth_ok(&["exec", ctr, "sh", "-c", script])
}

/// A name no other test (or earlier run) uses.
fn uniq(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{tag}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn volume_names(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = d.berth_ok(&["volume", "ls", "-q"]).lines().map(str::to_string).collect();
    v.sort();
    v
}

fn mounts_json(d: &Daemon, ctr: &str) -> Vec<serde_json::Value> {
    let out = d.berth_ok(&["inspect", "-f", "{{json .Mounts}}", ctr]);
    serde_json::from_str::<Vec<serde_json::Value>>(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn host_dir(d: &Daemon, name: &str) -> PathBuf {
    let p = d.dir.path().join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Named and anonymous volumes
// ---------------------------------------------------------------------------------------------

#[test]
fn named_volume_outlives_its_container_and_ro_refuses_writes() {
    let d = with_busybox();
    d.berth_ok(&["run", "--name", "writer", "-v", "data:/data", "busybox", "sh", "-c", "echo persisted > /data/f && mkdir /data/sub && echo deep > /data/sub/g"]);
    d.berth_ok(&["rm", "writer"]);
    assert_eq!(volume_names(&d), ["data"], "the volume is created on first use and survives rm");
    assert_eq!(run_ok(&d, &["-v", "data:/mnt", "busybox", "cat", "/mnt/f", "/mnt/sub/g"]), "persisted\ndeep\n");
    // On the host, under the data root.
    let mp = d.berth_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "data"]);
    assert_eq!(Path::new(mp.trim()), d.root().join("volumes/data/_data"));
    assert_eq!(std::fs::read_to_string(d.root().join("volumes/data/_data/f")).unwrap(), "persisted\n");

    let (code, out, err) = run(&d, &["-v", "data:/data:ro", "busybox", "sh", "-c", "cat /data/f; echo nope > /data/f"]);
    assert_ne!(code, 0, "writing through :ro must fail: {out}{err}");
    assert_eq!(out, "persisted\n", "reading through :ro works");
    assert!(err.contains("Read-only file system"), "{err}");
    let (code, _, err) = run(&d, &["--mount", "type=volume,src=data,dst=/data,readonly", "busybox", "touch", "/data/new"]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(std::fs::read_to_string(d.root().join("volumes/data/_data/f")).unwrap(), "persisted\n");
    assert!(!d.root().join("volumes/data/_data/new").exists());

    // Data survives a daemon restart too.
    let mut d = d;
    d.restart();
    assert_eq!(run_ok(&d, &["-v", "data:/data", "busybox", "cat", "/data/f"]), "persisted\n");
}

#[test]
fn volume_ls_inspect_rm_and_prune() {
    let d = with_busybox();
    assert_eq!(d.berth_ok(&["volume", "create", "named1"]).trim(), "named1");
    assert_eq!(d.berth_ok(&["volume", "create", "--label", "team=blue", "--name", "named2"]).trim(), "named2");
    let ls = d.berth_ok(&["volume", "ls"]);
    let lines: Vec<Vec<&str>> = ls.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines, vec![vec!["DRIVER", "VOLUME", "NAME"], vec!["local", "named1"], vec!["local", "named2"]], "{ls}");
    assert_eq!(d.berth_ok(&["volume", "ls", "-q", "--filter", "label=team=blue"]), "named2\n");
    assert_eq!(d.berth_ok(&["volume", "ls", "-q", "--filter", "name=d1"]), "named1\n");

    let v: serde_json::Value = serde_json::from_str(&d.berth_ok(&["volume", "inspect", "named2"])).unwrap();
    assert_eq!(v[0]["Name"], "named2");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(v[0]["Labels"]["team"], "blue");
    assert_eq!(v[0]["Mountpoint"], s(&d.root().join("volumes/named2/_data")));
    assert!(Path::new(v[0]["Mountpoint"].as_str().unwrap()).is_dir());
    let o = d.berth(&["volume", "inspect", "ghost"]);
    assert!(!o.status.success());
    assert!(stderr(&o).to_lowercase().contains("no such volume"), "{}", stderr(&o));

    // In use (even by a stopped container): refused; after the container is gone: removed.
    d.berth_ok(&["create", "--name", "user", "-v", "named1:/d", "busybox", "true"]);
    let o = d.berth(&["volume", "rm", "named1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("volume is in use"), "{}", stderr(&o));
    assert!(volume_names(&d).contains(&"named1".to_string()));

    // Anonymous volumes: one used by the container, one unused.
    d.berth_ok(&["create", "--name", "anon-user", "-v", "/anon", "busybox", "true"]);
    d.berth_ok(&["run", "--name", "anon-gone", "-v", "/anon2", "busybox", "sh", "-c", "echo 12345 > /anon2/f"]);
    let anon_gone = mounts_json(&d, "anon-gone")[0]["Name"].as_str().unwrap().to_string();
    let anon_used = mounts_json(&d, "anon-user")[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(anon_gone.len(), 64);
    d.berth_ok(&["rm", "anon-gone"]);
    assert_eq!(volume_names(&d).len(), 4, "plain rm keeps anonymous volumes");
    let anon_labels = d.berth_ok(&["volume", "inspect", "-f", "{{json .Labels}}", &anon_gone]);
    assert!(anon_labels.contains("com.docker.volume.anonymous"), "{anon_labels}");

    // prune: the unused anonymous volume only.
    let out = d.berth_ok(&["volume", "prune", "-f"]);
    assert!(out.starts_with(&format!("Deleted Volumes:\n{anon_gone}\n\nTotal reclaimed space: ")), "{out}");
    let mut want = vec!["named1".to_string(), "named2".to_string(), anon_used.clone()];
    want.sort();
    assert_eq!(volume_names(&d), want);
    assert!(!d.root().join("volumes").join(&anon_gone).exists(), "pruned data is gone from disk");
    // prune -a: named ones too, still not those in use.
    let out = d.berth_ok(&["volume", "prune", "-a", "-f"]);
    assert!(out.contains("named2") && !out.contains("named1") && !out.contains(&anon_used), "{out}");
    assert_eq!(volume_names(&d).len(), 2);
    let out = d.berth_ok(&["volume", "prune", "-f"]);
    assert!(!out.contains("Deleted Volumes"), "nothing more to prune: {out}");

    d.berth_ok(&["rm", "user", "anon-user"]);
    assert_eq!(d.berth_ok(&["volume", "rm", "named1"]), "named1\n");
    let o = d.berth(&["volume", "rm", "named1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).to_lowercase().contains("no such volume"), "{}", stderr(&o));
    d.berth_ok(&["volume", "rm", "-f", "named1"]);
    assert!(!d.root().join("volumes/named1").exists());
}

#[test]
fn tmpfs_volume_driver_options_enforce_size() {
    let d = with_busybox();
    d.berth_ok(&["volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", "tv"]);
    let opts = d.berth_ok(&["volume", "inspect", "-f", "{{json .Options}}", "tv"]);
    let opts: serde_json::Value = serde_json::from_str(opts.trim()).unwrap();
    assert_eq!(opts, serde_json::json!({"device": "tmpfs", "o": "size=1m", "type": "tmpfs"}));
    let (code, out, err) = run(&d, &["-v", "tv:/t", "busybox", "sh", "-c",
        "grep ' /t ' /proc/mounts | cut -d' ' -f3; df -k /t | tail -1; echo small > /t/ok; dd if=/dev/zero of=/t/big bs=1024 count=2048"]);
    assert_ne!(code, 0, "writing 2 MiB into a 1 MiB tmpfs must fail: {out}{err}");
    assert!(out.starts_with("tmpfs\n"), "{out}");
    assert!(out.contains(" 1024 "), "1 MiB: {out}");
    assert!(err.contains("No space left on device"), "{err}");
    // Unmounted once no container uses it: the on-disk directory holds nothing.
    assert!(!std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(s(&d.root().join("volumes/tv/_data"))));
    assert_eq!(std::fs::read_dir(d.root().join("volumes/tv/_data")).unwrap().count(), 0);
    d.berth_ok(&["volume", "rm", "tv"]);
}

#[test]
fn rm_v_and_auto_rm_remove_anonymous_volumes_but_not_named_ones() {
    let d = with_busybox();
    d.berth_ok(&["run", "--name", "c1", "-v", "/anon", "-v", "keep1:/named", "busybox", "sh", "-c", "echo x > /anon/f; echo y > /named/f"]);
    let mounts = mounts_json(&d, "c1");
    let anon = mounts.iter().find(|m| m["Destination"] == "/anon").unwrap()["Name"].as_str().unwrap().to_string();
    assert_eq!(volume_names(&d).len(), 2);
    d.berth_ok(&["rm", "-v", "c1"]);
    assert_eq!(volume_names(&d), ["keep1"], "rm -v removes the anonymous volume only");
    assert!(!d.root().join("volumes").join(&anon).exists());

    run_ok(&d, &["-v", "/anon", "-v", "keep2:/named", "busybox", "sh", "-c", "echo x > /anon/f; echo y > /named/f"]);
    assert_eq!(volume_names(&d), ["keep1", "keep2"], "--rm removes the anonymous volume only");
    assert_eq!(run_ok(&d, &["-v", "keep2:/n", "busybox", "cat", "/n/f"]), "y\n");
}

// ---------------------------------------------------------------------------------------------
// Binds, copy-up, --volumes-from, tmpfs
// ---------------------------------------------------------------------------------------------

#[test]
fn bind_mounts_both_ways_read_only_and_missing_sources() {
    let d = with_busybox();
    let hd = host_dir(&d, "bind");
    std::fs::write(hd.join("from-host"), "hello from the host\n").unwrap();
    let out = run_ok(&d, &["-v", &format!("{}:/x", s(&hd)), "busybox", "sh", "-c", "cat /x/from-host; echo hello from the container > /x/from-ctr"]);
    assert_eq!(out, "hello from the host\n");
    assert_eq!(std::fs::read_to_string(hd.join("from-ctr")).unwrap(), "hello from the container\n");

    let (code, out, err) = run(&d, &["-v", &format!("{}:/x:ro", s(&hd)), "busybox", "sh", "-c", "cat /x/from-host; echo no > /x/from-host"]);
    assert_ne!(code, 0);
    assert_eq!(out, "hello from the host\n");
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(std::fs::read_to_string(hd.join("from-host")).unwrap(), "hello from the host\n");
    let (code, _, err) = run(&d, &["--mount", &format!("type=bind,src={},dst=/x,readonly", s(&hd)), "busybox", "rm", "/x/from-host"]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(hd.join("from-host").exists());

    // -v makes a missing host directory; --mount refuses it.
    let missing = d.dir.path().join("made/by/v");
    run_ok(&d, &["-v", &format!("{}:/m", s(&missing)), "busybox", "touch", "/m/inside"]);
    assert!(missing.join("inside").is_file());
    let missing2 = d.dir.path().join("never-made");
    let (code, _, err) = run(&d, &["--mount", &format!("type=bind,src={},dst=/m", s(&missing2)), "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("bind source path does not exist"), "{err}");
    assert!(!missing2.exists());
    assert_eq!(d.berth_ok(&["ps", "-aq"]), "");
}

#[test]
fn copy_up_populates_only_new_volumes() {
    let d = with_busybox();
    let image_etc = run_ok(&d, &["busybox", "cat", "/etc/passwd"]);
    assert!(image_etc.contains("root:x:0:0"), "{image_etc}");
    // A new volume over /etc gets the image's /etc.
    assert_eq!(run_ok(&d, &["-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd"]), image_etc);
    assert_eq!(std::fs::read_to_string(d.root().join("volumes/etcvol/_data/passwd")).unwrap(), image_etc);
    // The same with --mount, and for an anonymous volume.
    assert_eq!(run_ok(&d, &["--mount", "type=volume,src=etcvol2,dst=/etc", "busybox", "cat", "/etc/passwd"]), image_etc);
    assert_eq!(run_ok(&d, &["-v", "/etc", "busybox", "cat", "/etc/passwd"]), image_etc);
    // volume-nocopy: left empty.
    assert_eq!(run_ok(&d, &["--mount", "type=volume,src=bare,dst=/etc,volume-nocopy", "busybox", "ls", "-A", "/etc"]), "");
    assert_eq!(std::fs::read_dir(d.root().join("volumes/bare/_data")).unwrap().count(), 0);
    // A volume that already holds data is not overwritten (nor topped up).
    run_ok(&d, &["-v", "mine:/data", "busybox", "sh", "-c", "echo my own passwd > /data/passwd"]);
    assert_eq!(run_ok(&d, &["-v", "mine:/etc", "busybox", "ls", "-A", "/etc"]), "passwd\n");
    assert_eq!(run_ok(&d, &["-v", "mine:/etc", "busybox", "cat", "/etc/passwd"]), "my own passwd\n");
    // A volume populated once keeps its (changed) content.
    run_ok(&d, &["-v", "etcvol:/etc", "busybox", "sh", "-c", "echo changed > /etc/passwd"]);
    assert_eq!(run_ok(&d, &["-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd"]), "changed\n");
}

#[test]
fn volumes_from_shares_data_and_ro_refuses_writes() {
    let d = with_busybox();
    let hd = host_dir(&d, "shared-bind");
    d.berth_ok(&["create", "--name", "src", "-v", "shared:/shared", "-v", &format!("{}:/b", s(&hd)), "-v", "/anon", "busybox", "true"]);
    run_ok(&d, &["--volumes-from", "src", "busybox", "sh", "-c", "echo via-from > /shared/f; echo bind > /b/f; echo anon > /anon/f"]);
    assert_eq!(std::fs::read_to_string(d.root().join("volumes/shared/_data/f")).unwrap(), "via-from\n");
    assert_eq!(std::fs::read_to_string(hd.join("f")).unwrap(), "bind\n");
    assert_eq!(run_ok(&d, &["--volumes-from", "src", "busybox", "cat", "/shared/f", "/anon/f"]), "via-from\nanon\n");

    let (code, out, err) = run(&d, &["--volumes-from", "src:ro", "busybox", "sh", "-c", "cat /shared/f; echo x > /shared/f"]);
    assert_ne!(code, 0);
    assert_eq!(out, "via-from\n");
    assert!(err.contains("Read-only file system"), "{err}");
    let (code, _, err) = run(&d, &["--volumes-from", "src:ro", "busybox", "touch", "/b/new"]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!hd.join("new").exists());
    // The anonymous volume belongs to src: removing a --volumes-from user keeps it.
    assert_eq!(volume_names(&d).len(), 2);
    let (code, _, err) = run(&d, &["--volumes-from", "ghost", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("No such container"), "{err}");
}

#[test]
fn tmpfs_mounts_enforce_their_size() {
    let d = with_busybox();
    for flags in [["--mount", "type=tmpfs,target=/t,tmpfs-size=1m"], ["--tmpfs", "/t:size=1m"]] {
        let mut a: Vec<&str> = flags.to_vec();
        a.extend_from_slice(&["busybox", "sh", "-c", "grep ' /t ' /proc/mounts | cut -d' ' -f3; df -k /t | tail -1; dd if=/dev/zero of=/t/big bs=1024 count=2048"]);
        let (code, out, err) = run(&d, &a);
        assert_ne!(code, 0, "{flags:?}: {out}{err}");
        assert!(out.starts_with("tmpfs\n") && out.contains(" 1024 "), "{flags:?}: {out}");
        assert!(err.contains("No space left on device"), "{flags:?}: {err}");
    }
    // Within the limit it works, and nothing lands in the image's filesystem.
    run_ok(&d, &["--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "busybox", "sh", "-c", "dd if=/dev/zero of=/t/half bs=1024 count=512 2>/dev/null && ls /t"]);
    assert_eq!(volume_names(&d), Vec::<String>::new(), "tmpfs mounts make no volumes");
}

#[test]
fn inspect_shows_mounts_as_docker_does() {
    let d = with_busybox();
    let hd = host_dir(&d, "inspect-bind");
    d.berth_ok(&["create", "--name", "mnt", "-v", "named:/data", "-v", &format!("{}:/hostro:ro", s(&hd)), "-v", "/anon",
        "--mount", "type=tmpfs,target=/scratch", "--mount", "type=volume,src=viamount,dst=/vm,readonly", "busybox", "true"]);
    let mounts = mounts_json(&d, "mnt");
    let by = |dst: &str| mounts.iter().find(|m| m["Destination"] == dst).unwrap_or_else(|| panic!("no mount {dst}: {mounts:?}")).clone();
    assert_eq!(mounts.len(), 5, "{mounts:?}");
    assert_eq!(by("/data"), serde_json::json!({
        "Type": "volume", "Name": "named", "Source": s(&d.root().join("volumes/named/_data")), "Destination": "/data",
        "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""
    }));
    assert_eq!(by("/hostro"), serde_json::json!({
        "Type": "bind", "Source": s(&hd), "Destination": "/hostro", "Mode": "ro", "RW": false, "Propagation": "rprivate"
    }));
    let anon = by("/anon");
    assert_eq!(anon["Type"], "volume");
    assert_eq!(anon["Name"].as_str().unwrap().len(), 64);
    assert_eq!(anon["Source"], s(&d.root().join("volumes").join(anon["Name"].as_str().unwrap()).join("_data")));
    assert_eq!(anon["RW"], true);
    assert_eq!(by("/scratch"), serde_json::json!({"Type": "tmpfs", "Source": "", "Destination": "/scratch", "Mode": "", "RW": true, "Propagation": ""}));
    let vm = by("/vm");
    assert_eq!((&vm["Type"], &vm["Name"], &vm["RW"], &vm["Mode"]), (&serde_json::json!("volume"), &serde_json::json!("viamount"), &serde_json::json!(false), &serde_json::json!("")));
    // The docker CLI reads the same thing.
    let out = d.docker_ok(&["inspect", "-f", "{{range .Mounts}}{{.Type}}:{{.Destination}}:{{.RW}} {{end}}", "mnt"]);
    for want in ["volume:/data:true", "bind:/hostro:false", "volume:/anon:true", "tmpfs:/scratch:true", "volume:/vm:false"] {
        assert!(out.contains(want), "{want} in {out}");
    }
}

#[test]
fn invalid_mount_specifications_are_refused() {
    let d = with_busybox();
    for (args, want) in [
        (vec!["-v", "bad/name:/x"], "invalid"),
        (vec!["-v", "vol:relative"], "must be absolute"),
        (vec!["-v", "vol:/"], "destination can't be '/'"),
        (vec!["-v", "a1:/x", "-v", "a2:/x"], "Duplicate mount point"),
        (vec!["--mount", "type=bind,dst=/x"], "field Source must not be empty"),
        (vec!["--mount", "type=nope,dst=/x"], "nope"),
    ] {
        let mut a = args.clone();
        a.extend_from_slice(&["busybox", "true"]);
        let (code, out, err) = run(&d, &a);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(d.berth_ok(&["ps", "-aq"]), "");
}

// ---------------------------------------------------------------------------------------------
// cp
// ---------------------------------------------------------------------------------------------

/// A running container holding `/src` = { a (hello), sub/b (deep), link -> a, abs -> /etc/hostname }.
fn cp_fixture(d: &Daemon, name: &str) {
    start_sleeper(d, name, &[]);
    sh(d, name, "mkdir -p /src/sub && echo hello > /src/a && echo deep > /src/sub/b && ln -s a /src/link && ln -s /etc/hostname /src/abs && chmod 0640 /src/a");
}

#[test]
fn cp_from_container_files_dirs_symlinks() {
    let d = with_busybox();
    cp_fixture(&d, "ctr");
    let out = d.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    // A file into an existing directory; renamed to a new name; over an existing file.
    let o = d.berth(&["cp", "ctr:/src/a", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("Successfully copied"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("a")).unwrap(), "hello\n");
    assert_eq!(std::fs::metadata(out.join("a")).unwrap().mode() & 0o777, 0o640, "mode kept");
    d.berth_ok(&["cp", "ctr:/src/a", s(&out.join("renamed.txt"))]);
    assert_eq!(std::fs::read_to_string(out.join("renamed.txt")).unwrap(), "hello\n");
    std::fs::write(out.join("existing"), "old").unwrap();
    d.berth_ok(&["cp", "ctr:/src/sub/b", s(&out.join("existing"))]);
    assert_eq!(std::fs::read_to_string(out.join("existing")).unwrap(), "deep\n");

    // A symlink stays a symlink (not followed), -L follows it.
    d.berth_ok(&["cp", "ctr:/src/link", s(&out)]);
    assert_eq!(std::fs::read_link(out.join("link")).unwrap(), Path::new("a"));
    d.berth_ok(&["cp", "ctr:/src/abs", s(&out)]);
    assert_eq!(std::fs::read_link(out.join("abs")).unwrap(), Path::new("/etc/hostname"));
    d.berth_ok(&["cp", "-L", "ctr:/src/link", s(&out.join("followed"))]);
    assert!(std::fs::symlink_metadata(out.join("followed")).unwrap().is_file());
    assert_eq!(std::fs::read_to_string(out.join("followed")).unwrap(), "hello\n");

    // A directory into an existing dir (as a child), and to a new name.
    d.berth_ok(&["cp", "ctr:/src", s(&out)]);
    assert_eq!(std::fs::read_to_string(out.join("src/sub/b")).unwrap(), "deep\n");
    assert_eq!(std::fs::read_link(out.join("src/link")).unwrap(), Path::new("a"));
    d.berth_ok(&["cp", "ctr:/src", s(&out.join("newdir"))]);
    assert_eq!(std::fs::read_to_string(out.join("newdir/a")).unwrap(), "hello\n");
    assert_eq!(std::fs::read_to_string(out.join("newdir/sub/b")).unwrap(), "deep\n");
    assert!(!out.join("newdir/src").exists());

    // `dir/.`: the contents, into a new and into an existing directory.
    d.berth_ok(&["cp", "ctr:/src/.", s(&out.join("contents-new"))]);
    assert_eq!(std::fs::read_to_string(out.join("contents-new/sub/b")).unwrap(), "deep\n");
    let existing = out.join("contents-existing");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("already"), "there").unwrap();
    d.berth_ok(&["cp", "ctr:/src/.", s(&existing)]);
    let mut names: Vec<String> = std::fs::read_dir(&existing).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["a", "abs", "already", "link", "sub"]);

    // Errors: a missing path, a directory onto a file, a missing container.
    let o = d.berth(&["cp", "ctr:/no/such/file", s(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Could not find the file /no/such/file in container ctr"), "{}", stderr(&o));
    let o = d.berth(&["cp", "ctr:/src", s(&out.join("a"))]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot copy a directory to a file"), "{}", stderr(&o));
    let o = d.berth(&["cp", "ghost:/etc/hostname", s(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("No such container"), "{}", stderr(&o));
}

#[test]
fn cp_into_container_files_dirs_symlinks() {
    let d = with_busybox();
    start_sleeper(&d, "ctr", &[]);
    let hd = host_dir(&d, "tree");
    std::fs::create_dir_all(hd.join("sub")).unwrap();
    std::fs::write(hd.join("f"), "file one\n").unwrap();
    std::fs::write(hd.join("sub/g"), "file two\n").unwrap();
    std::os::unix::fs::symlink("f", hd.join("lnk")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", hd.join("abs")).unwrap();

    let o = d.berth(&["cp", s(&hd.join("f")), "ctr:/tmp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("Successfully copied") && stderr(&o).contains("ctr:/tmp"), "{}", stderr(&o));
    d.berth_ok(&["cp", s(&hd.join("f")), "ctr:/tmp/renamed"]);
    d.berth_ok(&["cp", s(&hd.join("lnk")), "ctr:/tmp/"]);
    d.berth_ok(&["cp", s(&hd.join("abs")), "ctr:/tmp/"]);
    assert_eq!(sh(&d, "ctr", "cat /tmp/f /tmp/renamed; readlink /tmp/lnk; readlink /tmp/abs; cat /tmp/lnk"), "file one\nfile one\nf\n/etc/passwd\nfile one\n");
    assert!(sh(&d, "ctr", "cat /tmp/abs").contains("root:x:0:0"), "an absolute link resolves in the container");

    // A directory: into an existing one, to a new name, and its contents (`dir/.`).
    d.berth_ok(&["cp", s(&hd), "ctr:/tmp"]);
    d.berth_ok(&["cp", s(&hd), "ctr:/newdir"]);
    sh(&d, "ctr", "mkdir /existing && echo keep > /existing/keep");
    d.berth_ok(&["cp", &format!("{}/.", s(&hd)), "ctr:/existing"]);
    d.berth_ok(&["cp", &format!("{}/.", s(&hd)), "ctr:/dotnew"]);
    let out = sh(&d, "ctr", "cat /tmp/tree/sub/g /newdir/sub/g /existing/sub/g /existing/keep /dotnew/f; readlink /newdir/lnk; ls /existing | tr '\\n' ' '; ls -d /newdir/tree 2>&1 | grep -c 'No such'; ls /");
    assert_eq!(out, "file two\nfile two\nfile two\nkeep\nfile one\nf\nabs f keep lnk sub 1\nbin\ndev\ndotnew\netc\nexisting\nnewdir\nproc\nroot\nsys\ntmp\n",
        "`dir/.` to a new destination makes it; nothing spills into /");

    // Errors.
    let o = d.berth(&["cp", s(&hd.join("nope")), "ctr:/tmp"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
    let o = d.berth(&["cp", s(&hd), "ctr:/tmp/f"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot copy a directory to a file"), "{}", stderr(&o));
    let o = d.berth(&["cp", s(&hd.join("f")), "ctr:/no/such/dir/x"]);
    assert!(!o.status.success(), "a missing parent in the container is an error");
}

#[test]
fn cp_tar_on_stdin_and_stdout() {
    let d = with_busybox();
    cp_fixture(&d, "ctr");
    // `cp CTR:PATH -`: a tar on stdout, symlinks stored as symlinks.
    let o = d.berth(&["cp", "ctr:/src", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let mut seen = vec![];
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string().trim_end_matches('/').to_string();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        let link = e.link_name().unwrap().map(|l| l.display().to_string()).unwrap_or_default();
        seen.push(format!("{path}|{:?}|{body}|{link}", e.header().entry_type()));
    }
    seen.sort();
    assert_eq!(seen, [
        "src/abs|Symlink||/etc/hostname",
        "src/a|Regular|hello\n|",
        "src/link|Symlink||a",
        "src/sub/b|Regular|deep\n|",
        "src/sub|Directory||",
        "src|Directory||",
    ]);

    // `cp - CTR:DIR`: a tar from stdin.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(9);
    h.set_mode(0o600);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "in/from-stdin", &b"tar body\n"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    b.append_link(&mut h, "in/l", "from-stdin").unwrap();
    let tarball = b.into_inner().unwrap();
    let o = d.berth_stdin(&["cp", "-", "ctr:/tmp"], &tarball);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sh(&d, "ctr", "cat /tmp/in/l; stat -c %a /tmp/in/from-stdin; readlink /tmp/in/l"), "tar body\n600\nfrom-stdin\n");
    let o = d.berth_stdin(&["cp", "-", "ctr:/tmp/in/from-stdin"], &tarball);
    assert!(!o.status.success(), "stdin needs a directory destination");
    assert!(stderr(&o).contains("must be a directory"), "{}", stderr(&o));
}

#[test]
fn cp_stopped_container_through_volume_and_bind() {
    let d = with_busybox();
    let hd = host_dir(&d, "cp-bind");
    let payload = host_dir(&d, "payload").join("p.txt");
    std::fs::write(&payload, "payload\n").unwrap();

    // Running: through a named volume and a bind mounted in the container.
    start_sleeper(&d, "run", &["-v", "cpvol:/vol", "-v", &format!("{}:/bind", s(&hd))]);
    d.berth_ok(&["cp", s(&payload), "run:/vol/"]);
    d.berth_ok(&["cp", s(&payload), "run:/bind/in-bind.txt"]);
    assert_eq!(std::fs::read_to_string(d.root().join("volumes/cpvol/_data/p.txt")).unwrap(), "payload\n");
    assert_eq!(std::fs::read_to_string(hd.join("in-bind.txt")).unwrap(), "payload\n");
    std::fs::write(hd.join("host-made"), "host made\n").unwrap();
    let out = d.dir.path().join("out-running");
    std::fs::create_dir(&out).unwrap();
    d.berth_ok(&["cp", "run:/bind/host-made", s(&out)]);
    d.berth_ok(&["cp", "run:/vol/p.txt", s(&out.join("from-vol"))]);
    assert_eq!(std::fs::read_to_string(out.join("host-made")).unwrap(), "host made\n");
    assert_eq!(std::fs::read_to_string(out.join("from-vol")).unwrap(), "payload\n");
    d.berth_ok(&["rm", "-f", "run"]);

    // Stopped (exited) and never started (created): the rootfs, volumes and binds all reachable.
    d.berth_ok(&["run", "--name", "stopped", "-v", "cpvol:/vol", "-v", &format!("{}:/bind", s(&hd)), "busybox", "sh", "-c", "echo written-before-exit > /root/note"]);
    d.berth_ok(&["create", "--name", "created", "-v", "cpvol:/vol", "-v", &format!("{}:/bind", s(&hd)), "busybox", "true"]);
    for c in ["stopped", "created"] {
        let out = d.dir.path().join(format!("out-{c}"));
        std::fs::create_dir(&out).unwrap();
        d.berth_ok(&["cp", s(&payload), &format!("{c}:/root/{c}.txt")]);
        d.berth_ok(&["cp", s(&payload), &format!("{c}:/vol/{c}.txt")]);
        d.berth_ok(&["cp", s(&payload), &format!("{c}:/bind/{c}.txt")]);
        assert_eq!(std::fs::read_to_string(d.root().join(format!("volumes/cpvol/_data/{c}.txt"))).unwrap(), "payload\n");
        assert_eq!(std::fs::read_to_string(hd.join(format!("{c}.txt"))).unwrap(), "payload\n");
        d.berth_ok(&["cp", &format!("{c}:/root/{c}.txt"), s(&out)]);
        d.berth_ok(&["cp", &format!("{c}:/vol/p.txt"), s(&out.join("vol-p"))]);
        d.berth_ok(&["cp", &format!("{c}:/bind/host-made"), s(&out)]);
        assert_eq!(std::fs::read_to_string(out.join(format!("{c}.txt"))).unwrap(), "payload\n");
        assert_eq!(std::fs::read_to_string(out.join("vol-p")).unwrap(), "payload\n");
        assert_eq!(std::fs::read_to_string(out.join("host-made")).unwrap(), "host made\n");
    }
    let out = d.dir.path().join("out-note");
    d.berth_ok(&["cp", "stopped:/root/note", s(&out)]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "written-before-exit\n");
    // What was copied into the stopped container's rootfs is there when it runs again.
    d.berth_ok(&["commit", "stopped", "snap:1"]);
    assert_eq!(run_ok(&d, &["snap:1", "cat", "/root/stopped.txt", "/root/note"]), "payload\nwritten-before-exit\n");
    assert_eq!(run_ok(&d, &["--volumes-from", "created", "busybox", "cat", "/vol/created.txt", "/bind/created.txt"]), "payload\npayload\n");
    // No stray mount of the stopped containers' filesystems is left on the host.
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(s(&hd)), "bind of a stopped container left mounted: {mi}");
}

#[test]
fn cp_archive_mode_keeps_owners() {
    let d = with_busybox();
    start_sleeper(&d, "ctr", &[]);
    let hd = host_dir(&d, "owned");
    let f = hd.join("owned.txt");
    std::fs::write(&f, "mine\n").unwrap();
    std::os::unix::fs::chown(&f, Some(1234), Some(5678)).unwrap();
    d.berth_ok(&["cp", s(&f), "ctr:/tmp/plain.txt"]);
    d.berth_ok(&["cp", "-a", s(&f), "ctr:/tmp/archived.txt"]);
    // Both keep the host's owners, as the docker CLI with dockerd does (docs/CLI.md); -a would
    // give them to the container's User, which this one does not have.
    assert_eq!(sh(&d, "ctr", "stat -c %u:%g /tmp/plain.txt"), "1234:5678\n");
    assert_eq!(sh(&d, "ctr", "stat -c %u:%g /tmp/archived.txt"), "1234:5678\n");
    // A container with a User: -a gives the copy to that user, a plain copy keeps the host's.
    start_sleeper(&d, "usr", &["--user", "4242:4343"]);
    d.berth_ok(&["cp", s(&f), "usr:/tmp/plain.txt"]);
    d.berth_ok(&["cp", "-a", s(&f), "usr:/tmp/archived.txt"]);
    assert_eq!(sh(&d, "usr", "stat -c %u:%g /tmp/plain.txt"), "1234:5678\n");
    assert_eq!(sh(&d, "usr", "stat -c %u:%g /tmp/archived.txt"), "4242:4343\n");

    sh(&d, "ctr", "mkdir -p /o/d && echo x > /o/d/f && chown -R 4321:8765 /o/d");
    let out = host_dir(&d, "back");
    d.berth_ok(&["cp", "ctr:/o/d", s(&out.join("plain"))]);
    d.berth_ok(&["cp", "-a", "ctr:/o/d", s(&out.join("archived"))]);
    let own = |p: PathBuf| {
        let m = std::fs::metadata(p).unwrap();
        (m.uid(), m.gid())
    };
    let me = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    assert_eq!(own(out.join("plain/f")), me);
    assert_eq!(own(out.join("plain")), me);
    assert_eq!(own(out.join("archived/f")), (4321, 8765));
    assert_eq!(own(out.join("archived")), (4321, 8765));
}

// ---------------------------------------------------------------------------------------------
// Hostile cp
// ---------------------------------------------------------------------------------------------

/// A secret file on the host, in the test's own temp dir: (absolute path, secret).
fn sentinel(d: &Daemon) -> (PathBuf, String) {
    let secret = uniq("HOST-SECRET");
    let p = d.dir.path().join(uniq("sentinel"));
    std::fs::write(&p, &secret).unwrap();
    (p, secret)
}

fn assert_no_secret(bytes: &[u8], secret: &str, what: &str) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains(secret), "{what} returned the host's secret: {text}");
}

#[test]
fn hostile_cp_symlinks_to_host_root_stay_in_the_container() {
    let d = with_busybox();
    let (sent, secret) = sentinel(&d);
    start_sleeper(&d, "evil", &[]);
    sh(&d, "evil", "ln -s / /evil && ln -s ../../../.. /up && ln -s /evil/../../.. /deep");
    let out = host_dir(&d, "loot");
    for link in ["/evil", "/up", "/deep"] {
        let src = format!("evil:{link}{}", s(&sent));
        // Nothing at that path inside the container: the copy fails, the secret is never read.
        let o = d.berth(&["cp", &src, s(&out)]);
        assert!(!o.status.success(), "{src}: copied something: {}", stderr(&o));
        assert!(stderr(&o).contains("Could not find the file"), "{src}: {}", stderr(&o));
        assert_no_secret(&o.stderr, &secret, &src);
        let o = d.berth(&["cp", &src, "-"]);
        assert!(!o.status.success());
        assert_no_secret(&o.stdout, &secret, &src);
        let o = d.docker(&["cp", &src, s(&out)]);
        assert!(!o.status.success(), "docker cp {src}");
        assert!(stderr(&o).contains("Could not find the file"), "{src}: {}", stderr(&o));
        // The whole parent directory, through the link: the sentinel's name never shows up.
        let parent = format!("evil:{link}{}", s(sent.parent().unwrap()));
        let o = d.berth(&["cp", &parent, "-"]);
        assert_no_secret(&o.stdout, &secret, &parent);
        assert!(!String::from_utf8_lossy(&o.stdout).contains(sent.file_name().unwrap().to_str().unwrap()), "{parent} listed the host directory");
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);

    // With a file of the container's own at that path, that file is what comes back.
    let dir = s(sent.parent().unwrap());
    sh(&d, "evil", &format!("mkdir -p {dir} && echo container-own > {}", s(&sent)));
    for link in ["/evil", "/up", "/deep"] {
        let o = d.berth(&["cp", &format!("evil:{link}{}", s(&sent)), "-"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_no_secret(&o.stdout, &secret, link);
        assert!(String::from_utf8_lossy(&o.stdout).contains("container-own"));
        let dst = out.join(format!("got{}", link.replace('/', "-")));
        d.docker_ok(&["cp", &format!("evil:{link}{}", s(&sent)), s(&dst)]);
        assert_eq!(std::fs::read_to_string(&dst).unwrap(), "container-own\n");
    }

    // Writing through the links lands in the container, never on the host.
    let name = uniq("berth-hostile-write");
    let payload = out.join(&name);
    std::fs::write(&payload, "written through a link\n").unwrap();
    d.berth_ok(&["cp", s(&payload), "evil:/evil/tmp/"]);
    d.docker_ok(&["cp", s(&payload), &format!("evil:/up/tmp/{name}.docker")]);
    d.berth_ok(&["cp", s(&payload), &format!("evil:/deep{}/overwrite", dir)]);
    let ls = sh(&d, "evil", "ls /tmp");
    assert!(ls.contains(&name) && ls.contains(&format!("{name}.docker")), "{ls}");
    assert!(!Path::new("/tmp").join(&name).exists(), "cp wrote into the host's /tmp");
    assert!(!Path::new("/tmp").join(format!("{name}.docker")).exists(), "docker cp wrote into the host's /tmp");
    assert!(!sent.parent().unwrap().join("overwrite").exists(), "cp wrote into the host's temp dir");
    assert_eq!(std::fs::read_to_string(&sent).unwrap(), secret);
    // A tar with hostile names is refused, not extracted anywhere.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    let bad = format!("../../../tmp/{name}");
    h.as_gnu_mut().unwrap().name[..bad.len()].copy_from_slice(bad.as_bytes());
    h.set_cksum();
    b.append(&h, &b"evil"[..]).unwrap();
    let o = d.berth_stdin(&["cp", "-", "evil:/tmp"], &b.into_inner().unwrap());
    assert!(!o.status.success(), "a `..` entry must be refused");
    assert!(stderr(&o).contains("refusing archive entry"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(Path::new("/tmp").join(&name)).ok(), None);
    assert_eq!(sh(&d, "evil", &format!("cat /tmp/{name}")), "written through a link\n", "not overwritten either");

    // Stopped, the container's filesystem is reached another way: the links still stay inside it.
    let (sent2, secret2) = sentinel(&d);
    d.berth_ok(&["kill", "evil"]);
    d.berth_ok(&["wait", "evil"]);
    for link in ["/evil", "/up", "/deep"] {
        let o = d.berth(&["cp", &format!("evil:{link}{}", s(&sent2)), "-"]);
        assert!(!o.status.success(), "{link}: copied something from a stopped container");
        assert!(stderr(&o).contains("Could not find the file"), "{link}: {}", stderr(&o));
        assert_no_secret(&o.stdout, &secret2, link);
        let o = d.berth(&["cp", &format!("evil:{link}{}", s(&sent)), "-"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_no_secret(&o.stdout, &secret, link);
        assert!(String::from_utf8_lossy(&o.stdout).contains("container-own"));
    }
    let name2 = uniq("berth-hostile-stopped");
    std::fs::write(out.join(&name2), "x").unwrap();
    d.berth_ok(&["cp", s(&out.join(&name2)), "evil:/up/tmp/"]);
    assert!(!Path::new("/tmp").join(&name2).exists(), "cp into a stopped container wrote into the host's /tmp");
    let o = d.berth(&["cp", &format!("evil:/tmp/{name2}"), "-"]);
    assert!(o.status.success(), "the file landed in the container's /tmp: {}", stderr(&o));
}

#[test]
fn hostile_cp_symlink_swap_race_never_reaches_the_host() {
    let d = with_busybox();
    let (sent, secret) = sentinel(&d);
    let dir = s(sent.parent().unwrap()).to_string();
    let rel = sent.strip_prefix("/").unwrap().to_str().unwrap().to_string();
    // /d holds the container's own copy of the sentinel path; a loop keeps swapping /d with a
    // symlink to / (CVE-2018-15664's race).
    start_sleeper(&d, "racer", &[]);
    sh(&d, "racer", &format!("mkdir -p /d{dir} /d/tmp && echo container-own > /d/{rel}"));
    d.berth_ok(&["exec", "-d", "racer", "sh", "-c", "cd / && while true; do mv d d.x; ln -s / d; rm d; mv d.x d; done"]);
    let out = host_dir(&d, "race-out");
    let write_name = uniq("berth-race-write");
    let payload = out.join(&write_name);
    std::fs::write(&payload, "race payload\n").unwrap();
    let (mut ok, mut failed) = (0, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut i = 0;
    while i < 60 && std::time::Instant::now() < deadline {
        let src = format!("racer:/d/{rel}");
        let o = if i % 3 == 2 { d.docker(&["cp", &src, "-"]) } else { d.berth(&["cp", &src, "-"]) };
        assert_no_secret(&o.stdout, &secret, &src);
        assert_no_secret(&o.stderr, &secret, &src);
        if o.status.success() {
            ok += 1;
            assert!(String::from_utf8_lossy(&o.stdout).contains("container-own"), "{}", String::from_utf8_lossy(&o.stdout));
        } else {
            failed += 1;
        }
        // To a host file too: what lands is the container's, never the host's.
        let dst = out.join(format!("got-{i}"));
        let o = d.berth(&["cp", &src, s(&dst)]);
        if o.status.success() {
            let got = std::fs::read(&dst).unwrap_or_default();
            assert_no_secret(&got, &secret, &src);
        }
        // Writing while it swaps: into the container's /d/tmp or its /tmp, never the host's /tmp.
        let _ = d.berth(&["cp", s(&payload), "racer:/d/tmp/"]);
        assert!(!Path::new("/tmp").join(&write_name).exists(), "cp wrote into the host's /tmp during the race");
        i += 1;
    }
    eprintln!("race: {ok} copies succeeded, {failed} failed, over {i} rounds");
    assert!(i >= 10, "too few rounds: {i}");
    assert_eq!(std::fs::read_to_string(&sent).unwrap(), secret);
    assert!(std::fs::read_dir(sent.parent().unwrap()).unwrap().all(|e| {
        let n = e.unwrap().file_name().into_string().unwrap();
        !n.starts_with("berth-race-write")
    }));
    d.berth_ok(&["rm", "-f", "racer"]);
}

// ---------------------------------------------------------------------------------------------
// The stock docker CLI
// ---------------------------------------------------------------------------------------------

#[test]
fn docker_cli_volumes_run_and_cp() {
    let d = Daemon::start();
    d.docker_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    assert_eq!(d.docker_ok(&["volume", "create", "--label", "app=web", "dvol"]).trim(), "dvol");
    let ls = d.docker_ok(&["volume", "ls"]);
    let rows: Vec<Vec<&str>> = ls.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows, vec![vec!["DRIVER", "VOLUME", "NAME"], vec!["local", "dvol"]], "{ls}");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q", "--filter", "label=app=web"]), "dvol\n");
    assert_eq!(d.docker_ok(&["volume", "inspect", "-f", "{{.Driver}} {{.Mountpoint}} {{.Labels.app}}", "dvol"]).trim(),
        format!("local {} web", s(&d.root().join("volumes/dvol/_data"))));

    // docker run -v: a named volume, a bind, :ro.
    let hd = host_dir(&d, "docker-bind");
    std::fs::write(hd.join("h"), "from host\n").unwrap();
    d.docker_ok(&["run", "--name", "wr", "-v", "dvol:/data", "-v", &format!("{}:/b", s(&hd)), "busybox", "sh", "-c", "cat /b/h > /data/copied; echo from ctr > /b/c"]);
    assert_eq!(std::fs::read_to_string(hd.join("c")).unwrap(), "from ctr\n");
    assert_eq!(d.docker_ok(&["run", "--rm", "-v", "dvol:/data", "busybox", "cat", "/data/copied"]), "from host\n");
    let o = d.docker(&["run", "--rm", "-v", "dvol:/data:ro", "busybox", "touch", "/data/x"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Read-only file system"), "{}", stderr(&o));
    let o = d.docker(&["run", "--rm", "--mount", &format!("type=bind,src={}/nope,dst=/x", s(&hd)), "busybox", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bind source path does not exist"), "{}", stderr(&o));
    let o = d.docker(&["run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m", "busybox", "dd", "if=/dev/zero", "of=/t/f", "bs=1024", "count=2048"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("No space left on device"), "{}", stderr(&o));
    assert_eq!(d.docker_ok(&["run", "--rm", "--volumes-from", "wr", "busybox", "cat", "/data/copied", "/b/c"]), "from host\nfrom ctr\n");

    // docker volume rm of a volume in use; docker rm -v; docker volume prune.
    let o = d.docker(&["volume", "rm", "dvol"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("volume is in use"), "{}", stderr(&o));
    d.docker_ok(&["run", "--name", "anon", "-v", "/a", "busybox", "true"]);
    d.docker_ok(&["rm", "-v", "anon"]);
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "dvol\n");
    d.docker_ok(&["run", "--name", "anon2", "-v", "/a", "busybox", "true"]);
    d.docker_ok(&["rm", "anon2"]);
    let out = d.docker_ok(&["volume", "prune", "-f"]);
    assert!(out.contains("Deleted Volumes:") && out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "dvol\n");

    // docker cp both ways, running and stopped.
    d.docker_ok(&["run", "-d", "--name", "ctr", "-v", "dvol:/data", "busybox", "sh", "-c", "mkdir -p /srv/d && echo x > /srv/d/f && ln -s f /srv/d/l && while true; do sleep 1; done"]);
    let out = host_dir(&d, "docker-out");
    let mut tries = 0;
    while d.docker(&["exec", "ctr", "test", "-L", "/srv/d/l"]).status.code() != Some(0) && tries < 100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        tries += 1;
    }
    d.docker_ok(&["cp", "ctr:/srv/d", s(&out)]);
    assert_eq!(std::fs::read_to_string(out.join("d/f")).unwrap(), "x\n");
    assert_eq!(std::fs::read_link(out.join("d/l")).unwrap(), Path::new("f"));
    d.docker_ok(&["cp", "ctr:/srv/d/.", s(&out.join("contents"))]);
    assert_eq!(std::fs::read_to_string(out.join("contents/f")).unwrap(), "x\n");
    d.docker_ok(&["cp", "ctr:/data/copied", s(&out.join("renamed"))]);
    assert_eq!(std::fs::read_to_string(out.join("renamed")).unwrap(), "from host\n");
    d.docker_ok(&["cp", s(&hd), "ctr:/srv/"]);
    d.docker_ok(&["cp", s(&hd.join("h")), "ctr:/data/h2"]);
    assert_eq!(d.docker_ok(&["exec", "ctr", "cat", "/srv/docker-bind/h", "/data/h2"]), "from host\nfrom host\n");
    let o = d.docker(&["cp", "ctr:/nope", s(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Could not find the file /nope in container ctr"), "{}", stderr(&o));
    // A tar through stdout from docker cp.
    let o = d.docker(&["cp", "ctr:/srv/d/f", "-"]);
    assert!(o.status.success());
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert_eq!(names, ["f"]);
    d.docker_ok(&["stop", "-t", "1", "ctr"]);
    d.docker_ok(&["cp", s(&hd.join("h")), "ctr:/srv/while-stopped"]);
    d.docker_ok(&["cp", "ctr:/srv/while-stopped", s(&out.join("back"))]);
    assert_eq!(std::fs::read_to_string(out.join("back")).unwrap(), "from host\n");
    d.docker_ok(&["cp", "ctr:/data/h2", s(&out.join("back-vol"))]);
    assert_eq!(std::fs::read_to_string(out.join("back-vol")).unwrap(), "from host\n");

    d.docker_ok(&["rm", "-f", "ctr", "wr"]);
    assert_eq!(d.docker_ok(&["volume", "rm", "dvol"]).trim(), "dvol");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "");
}
