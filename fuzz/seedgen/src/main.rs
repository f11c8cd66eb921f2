//! Writes the seed corpus of every fuzz target into the directory given (fuzz/corpus). Seeds are real
//! inputs: the build corpus's Dockerfiles and .dockerignore files, layer tars (ordinary and hostile),
//! `berth save` archives of images imported with Berth's own code, and the manifests, index and config
//! inside them, plus requests as the docker CLI sends them.

use berth_content::ContentStore;
use berth_distribution::manifest::{to_docker_json, Descriptor, ImageManifest};
use berth_image::archive::{save, SaveItem};
use berth_image::import::{import_rootfs, ImportOptions};
use berth_image::ImageStore;
use berth_types::{Digest, Reference};
use std::fs;
use std::path::{Path, PathBuf};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join(name), bytes).unwrap();
}

/// One tar entry written header by header, so hostile names (`..`, absolute) can be expressed.
struct Raw<'a> {
    name: &'a str,
    kind: u8,
    link: &'a str,
    mode: u32,
    data: &'a [u8],
}

fn raw_entry(out: &mut Vec<u8>, e: &Raw) {
    let mut h = tar::Header::new_ustar();
    {
        let old = h.as_old_mut();
        old.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        old.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
    }
    h.set_entry_type(tar::EntryType::new(e.kind));
    h.set_mode(e.mode);
    h.set_size(e.data.len() as u64);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    if e.kind == b'3' || e.kind == b'4' {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
    }
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(e.data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn raw_tar(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        raw_entry(&mut out, e);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn r<'a>(name: &'a str, kind: u8, link: &'a str, data: &'a [u8]) -> Raw<'a> {
    let mode = if kind == b'5' { 0o755 } else { 0o644 };
    Raw { name, kind, link, mode, data }
}

/// An ordinary layer through the tar crate's builder: directories, files, links, devices, a FIFO,
/// whiteouts, an opaque directory, a PAX xattr and a long (GNU) name.
fn ordinary_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, link: Option<&str>, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, path, data).unwrap();
    };
    add("etc/", tar::EntryType::Directory, None, 0o755, b"");
    add("etc/hostname", tar::EntryType::Regular, None, 0o644, b"berth\n");
    add("etc/hostname.bak", tar::EntryType::Link, Some("etc/hostname"), 0o644, b"");
    add("usr/bin/", tar::EntryType::Directory, None, 0o755, b"");
    add("usr/bin/su", tar::EntryType::Regular, None, 0o4755, b"\x7fELF");
    add("bin", tar::EntryType::Symlink, Some("usr/bin"), 0o777, b"");
    add("dev/null", tar::EntryType::Char, None, 0o666, b"");
    add("run/fifo", tar::EntryType::Fifo, None, 0o600, b"");
    add("var/cache/.wh..wh..opq", tar::EntryType::Regular, None, 0o644, b"");
    add("var/.wh.old", tar::EntryType::Regular, None, 0o644, b"");
    add(&format!("{}/file", "d".repeat(120)), tar::EntryType::Regular, None, 0o644, b"long");
    let mut pax = Vec::new();
    let rec = "SCHILY.xattr.user.note=hi\n";
    pax.extend_from_slice(format!("{} {rec}", rec.len() + 3).as_bytes());
    add("PaxHeaders/x", tar::EntryType::XHeader, None, 0o644, &pax);
    add("etc/noted", tar::EntryType::Regular, None, 0o644, b"x");
    b.into_inner().unwrap()
}

/// Layers that must be refused or contained: escapes by `..`, absolute paths, symlinks and hard
/// links, and a directory replaced by a file and back.
fn hostile_layers() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("dotdot", raw_tar(&[r("../escaped", b'0', "", b"x")])),
        ("nested-dotdot", raw_tar(&[r("a/", b'5', "", b""), r("a/../../escaped", b'0', "", b"x")])),
        ("absolute", raw_tar(&[r("/escaped", b'0', "", b"x")])),
        ("symlink-parent", raw_tar(&[r("link", b'2', "..", b""), r("link/escaped", b'0', "", b"x")])),
        ("symlink-abs-parent", raw_tar(&[r("link", b'2', "/tmp", b""), r("link/escaped", b'0', "", b"x")])),
        ("symlink-then-file", raw_tar(&[r("outside", b'2', "../outside", b""), r("outside", b'0', "", b"overwrite")])),
        ("hardlink-out", raw_tar(&[r("h", b'1', "../outside", b"")])),
        ("hardlink-via-symlink", raw_tar(&[r("s", b'2', "..", b""), r("h", b'1', "s/outside", b"")])),
        ("whiteout-dotdot", raw_tar(&[r(".wh...", b'0', "", b"")])),
        ("whiteout-parent", raw_tar(&[r("a/", b'5', "", b""), r("a/.wh...", b'0', "", b"")])),
        ("opaque-root", raw_tar(&[r(".wh..wh..opq", b'0', "", b"")])),
        (
            "replace-dir",
            raw_tar(&[
                r("d/", b'5', "", b""),
                r("d/f", b'0', "", b"1"),
                r("d", b'0', "", b"now a file"),
                r("d/", b'5', "", b""),
            ]),
        ),
        ("symlink-dir-chmod", raw_tar(&[r("s", b'2', "../..", b""), r("s/", b'5', "", b"")])),
        ("device-and-fifo", raw_tar(&[r("c", b'3', "", b""), r("b", b'4', "", b""), r("p", b'6', "", b"")])),
    ]
}

/// Imports `layer` as an image and returns the store (in `dir`) and its id.
fn import(store: &ImageStore, layer: &[u8], changes: &[&str]) -> Digest {
    let opts = ImportOptions {
        changes: changes.iter().map(|s| s.to_string()).collect(),
        message: None,
        source: "-".into(),
        architecture: None,
    };
    import_rootfs(store, layer, &opts).unwrap()
}

fn tar_files(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(archive);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let p = e.path().unwrap().to_string_lossy().into_owned();
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            out.push((p, v));
        }
    }
    out
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: seedgen CORPUS_DIR"));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");

    // Dockerfiles and .dockerignore files of the build corpus (what the end-to-end tests build).
    let corpus = repo.join("crates/berth-cli/tests/build-corpus");
    let mut dirs: Vec<_> = fs::read_dir(&corpus).unwrap().flatten().map(|e| e.path()).collect();
    dirs.sort();
    for d in dirs {
        let case = d.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = fs::read_dir(&d).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains("Dockerfile") && !name.ends_with(".dockerignore") {
                write(&out, "dockerfile", &format!("{case}-{name}"), &fs::read(&f).unwrap());
            }
            if name.ends_with(".dockerignore") {
                let mut seed = fs::read(&f).unwrap();
                seed.extend_from_slice(b"\0a.tmp\nnested/deep/b.tmp\nlogs/keep.log\nlogs/x.log\ndocs/a/b/draft1.md\nsecret.txt\n");
                write(&out, "dockerignore", &format!("{case}-{name}"), &seed);
            }
        }
    }
    write(&out, "dockerfile", "example-hello", &fs::read(repo.join("examples/hello/Dockerfile")).unwrap_or_default());

    // References as users, the API and manifests spell them.
    for (i, s) in [
        "busybox",
        "busybox:1.36",
        "library/busybox:latest",
        "docker.io/library/busybox",
        "index.docker.io/user/app:v1",
        "127.0.0.1:5000/team/app:v2",
        "localhost/app",
        "[::1]:5000/app",
        "app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "registry.example.com/a/b/c:tag@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "user/app\0v1",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ]
    .iter()
    .enumerate()
    {
        write(&out, "reference", &format!("ref-{i}"), s.as_bytes());
    }

    // Layers.
    let ordinary = ordinary_layer();
    write(&out, "layer_apply", "ordinary", &ordinary);
    for (name, t) in hostile_layers() {
        write(&out, "layer_apply", name, &t);
    }

    // Images imported with Berth's own code, saved as `docker save` / `berth save` writes them.
    let tmp = tempfile::tempdir().unwrap();
    let content = ContentStore::open(tmp.path().join("content")).unwrap();
    let store = ImageStore::open(tmp.path().join("image"), content).unwrap();
    let small = raw_tar(&[r("hello", b'0', "", b"hello\n")]);
    let a = import(&store, &ordinary, &["CMD [\"sh\"]", "ENV PATH=/usr/bin:/bin", "LABEL org.example=seed"]);
    let b = import(&store, &small, &["ENTRYPOINT [\"/hello\"]", "EXPOSE 80/tcp", "USER 1000:1000"]);
    let item = |id: &Digest, r: &str| SaveItem { image: store.by_id(id).unwrap(), refs: vec![Reference::parse(r).unwrap()] };
    let mut one = Vec::new();
    save(&store, &[item(&b, "hello:latest")], &mut one).unwrap();
    write(&out, "image_load", "saved-one", &one);
    let mut two = Vec::new();
    save(&store, &[item(&a, "base:1"), item(&b, "127.0.0.1:5000/team/hello:v2")], &mut two).unwrap();
    write(&out, "image_load", "saved-two", &two);

    // The documents inside the archives: index, manifests, configs, Docker's manifest.json.
    for (path, bytes) in tar_files(&two) {
        if path.ends_with(".tar") || bytes.len() > 64 * 1024 || bytes.first() != Some(&b'{') && bytes.first() != Some(&b'[') {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let name = path.replace('/', "-");
        let ct = v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
        let mut seed = format!("{ct}\n").into_bytes();
        seed.extend_from_slice(&bytes);
        write(&out, "manifest_client", &name, &seed);
        write(&out, "manifest_registry", &name, &seed);
    }
    // A Docker schema 2 manifest as `berth push` sends one, and a multi-platform list as Docker Hub
    // serves one (attestation entry included).
    let cfg = store.by_id(&b).unwrap();
    let config_bytes = serde_json::to_vec(&*cfg.config).unwrap();
    let m = ImageManifest {
        schema_version: 2,
        media_type: Some("application/vnd.docker.distribution.manifest.v2+json".into()),
        config: Descriptor {
            media_type: "application/vnd.docker.container.image.v1+json".into(),
            size: config_bytes.len() as u64,
            digest: Digest::of(&config_bytes),
            platform: None,
            annotations: Default::default(),
            urls: Vec::new(),
        },
        layers: vec![Descriptor {
            media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
            size: small.len() as u64,
            digest: Digest::of(&small),
            platform: None,
            annotations: Default::default(),
            urls: Vec::new(),
        }],
    };
    let body = to_docker_json(&m);
    let mut seed = b"application/vnd.docker.distribution.manifest.v2+json\n".to_vec();
    seed.extend_from_slice(&body);
    write(&out, "manifest_client", "docker-v2", &seed);
    write(&out, "manifest_registry", "docker-v2", &seed);
    let d = Digest::of(&body);
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":{n},"digest":"{d}","platform":{{"architecture":"amd64","os":"linux"}}}},
{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":{n},"digest":"{d}","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":{n},"digest":"{d}","platform":{{"architecture":"arm","os":"linux","variant":"v7"}}}},
{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":{n},"digest":"{d}","platform":{{"architecture":"unknown","os":"unknown"}},"annotations":{{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"{d}"}}}}]}}"#,
        n = body.len()
    );
    let mut seed = b"application/vnd.docker.distribution.manifest.list.v2+json\n".to_vec();
    seed.extend_from_slice(list.as_bytes());
    write(&out, "manifest_client", "docker-list", &seed);
    write(&out, "manifest_registry", "docker-list", &seed);
    let referrer = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sbom","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{d}","size":{}}},"annotations":{{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}}}"#,
        body.len()
    );
    let mut seed = b"application/vnd.oci.image.manifest.v1+json\n".to_vec();
    seed.extend_from_slice(referrer.as_bytes());
    write(&out, "manifest_registry", "referrer", &seed);

    // Engine API bodies as the docker CLI (v27) sends them.
    let create = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=1"],"Cmd":["sh","-c","echo hi"],"Image":"busybox","Volumes":{},"WorkingDir":"/srv","Entrypoint":null,"OnBuild":null,"Labels":{"com.example":"x"},"StopSignal":"SIGTERM","StopTimeout":5,"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":3},"HostConfig":{"Binds":["vol:/data:ro"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[24,80],"CapAdd":["NET_ADMIN"],"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":["host:10.0.0.1"],"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"Tmpfs":{"/run":"size=64m"},"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":512,"Memory":67108864,"NanoCpus":500000000,"CgroupParent":"","BlkioWeight":0,"Devices":[],"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":2048}],"PidsLimit":100,"Mounts":[{"Type":"tmpfs","Target":"/tmp","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023}},{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"NoCopy":true,"Labels":{"a":"b"}}}],"Init":true,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"net":{"Aliases":["web"],"IPAMConfig":{"IPv4Address":"172.30.0.5"}}}}}"#;
    write(&out, "api_json", "create", create.as_bytes());
    write(&out, "api_json", "create-minimal", br#"{"Image":"busybox","Cmd":["true"],"HostConfig":null}"#);
    write(&out, "api_json", "network-create", br#"{"Name":"net","Driver":"bridge","CheckDuplicate":true,"Internal":false,"Attachable":true,"EnableIPv6":false,"IPAM":{"Driver":"default","Config":[{"Subnet":"172.30.0.0/16","Gateway":"172.30.0.1","IPRange":"172.30.5.0/24"}],"Options":{}},"Options":{"com.docker.network.bridge.name":"br-x"},"Labels":{"a":"b"}}"#);
    write(&out, "api_json", "network-connect", br#"{"Container":"web","EndpointConfig":{"Aliases":["a"],"IPAMConfig":{"IPv4Address":"172.30.0.9"},"Links":["db:db"]}}"#);
    write(&out, "api_json", "network-disconnect", br#"{"Container":"web","Force":true}"#);
    write(&out, "api_json", "volume-create", br#"{"Name":"v","Driver":"local","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m"},"Labels":{"a":"b"}}"#);
    write(&out, "api_json", "exec", br#"{"User":"","Privileged":false,"Tty":false,"ConsoleSize":[24,80],"AttachStdin":false,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":["X=1"],"WorkingDir":"/","Cmd":["sh","-c","id"]}"#);
    write(&out, "api_json", "update", br#"{"Memory":134217728,"MemorySwap":-1,"CpuShares":256,"PidsLimit":50,"RestartPolicy":{"Name":"always"}}"#);
    write(&out, "api_json", "units", b"1.5GiB 10m 1h30m 512k 1.44 v1.47 1.24 -1ns 300ms");

    // Query strings as the docker CLI sends them.
    for (i, q) in [
        "all=1&filters=%7B%22label%22%3A%7B%22a%3D1%22%3Atrue%7D%2C%22status%22%3A%7B%22running%22%3Atrue%7D%7D",
        "filters=%7B%22dangling%22%3A%5B%22true%22%5D%2C%22reference%22%3A%5B%22busy%2A%3Alatest%22%5D%7D",
        "since=1700000000.5&until=10m&filters=%7B%22type%22%3A%7B%22container%22%3Atrue%7D%7D",
        "since=2023-11-14T22%3A13%3A20Z&until=2023-11-14T22%3A13%3A21.123456789%2B01%3A00",
        "port=80%2Ftcp&signal=SIGKILL&t=10",
        "filters=%7B%22label%21%22%3A%7B%22keep%22%3Atrue%7D%2C%22until%22%3A%7B%2224h%22%3Atrue%7D%7D",
    ]
    .iter()
    .enumerate()
    {
        write(&out, "daemon_query", &format!("query-{i}"), q.as_bytes());
    }
    println!("seeds written to {}", out.display());
}
