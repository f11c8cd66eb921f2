//! critest, the Kubernetes CRI validation suite (cri-tools 1.36, `tools/cri-tools/`), against a
//! Berth daemon serving the CRI, offline: the images critest pulls (`tools/cri-tools/test-images.txt`)
//! are stand-ins built here from Dockerfiles on the BusyBox fixture, pushed to a local
//! `berth registry`, which the daemon's CRI side uses as the mirror of registry.k8s.io, k8s.gcr.io
//! and gcr.io. Every spec's outcome is compared with `critest/expected.txt`, which lists each spec
//! with its outcome (and the reason of each that fails or skips): a listed spec that fails, a spec
//! that passes but is listed otherwise, and a spec not listed all fail the test, so the list stays
//! true. Counts go to `target/critest/summary.txt`.

mod common;
mod cri_support;

use common::{stderr, stdout, BERTH};
use cri_support::CriDaemon;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The stand-in images: (name in the local registry, Dockerfile).
fn standins() -> Vec<(&'static str, String)> {
    let users = "RUN echo 'www-data:x:33:33:www-data:/var/www:/bin/sh' >> /etc/passwd \
                 && echo 'www-data:x:33:' >> /etc/group \
                 && echo 'user1000:x:1000:1000::/home:/bin/sh' >> /etc/passwd \
                 && echo 'user1000:x:1000:' >> /etc/group \
                 && echo 'group50000:x:50000:user1000' >> /etc/group";
    // The BusyBox image's shell execs commands found in PATH, where the fixture's static BusyBox
    // runs its applets in-process: its busybox is Debian's dynamically linked one (with its
    // libraries), and the applets are hard links to it, as in the BusyBox image, so masking
    // /bin/ls masks that name alone and `sh -c ls` fails as with the real image. BusyBox 1.29's
    // pgrep and ipcs applets, which Debian's BusyBox lacks, are scripts. The removal runs applets
    // by busybox's path: the names it removes are what the shell would look up.
    let tools = "ADD busybox-dynamic.tar.gz /\nRUN cd /bin && for f in *; do if [ -L \"$f\" ]; then /bin/busybox rm \"$f\"; fi; done \
                 && for a in $(/bin/busybox --list); do [ -e \"$a\" ] || /bin/busybox ln /bin/busybox \"$a\"; done\n\
                 COPY pgrep.sh /bin/pgrep\nCOPY ipcs.sh /bin/ipcs\nRUN chmod 755 /bin/pgrep /bin/ipcs";
    let base = format!("FROM busybox:latest\n{users}\n{tools}\n");
    let web = |port: u16| {
        format!(
            "{base}COPY nginx.sh /usr/sbin/nginx\nRUN chmod 755 /usr/sbin/nginx && mkdir -p /usr/share/nginx/html /var/run \
             && echo '<h1>Welcome to nginx!</h1>' > /usr/share/nginx/html/index.html\nENV PORT={port}\nEXPOSE {port}\n\
             CMD [\"/usr/sbin/nginx\", \"-g\", \"master process\"]\n"
        )
    };
    let pause = "FROM busybox:latest\nCOPY pause /pause\nENTRYPOINT [\"/pause\"]\n".to_string();
    let user = |u: &str| format!("{base}USER {u}\n");
    let label = |n: &str| format!("{base}LABEL berth.test.image={n}\n");
    vec![
        ("e2e-test-images/busybox:1.29-2", base.clone()),
        ("e2e-test-images/nginx:1.14-2", web(80)),
        ("e2e-test-images/httpd:2.4.39-4", format!("{base}RUN mkdir -p /usr/local/apache2/htdocs && echo '<html><body><h1>It works!</h1></body></html>' > /usr/local/apache2/htdocs/index.html\nEXPOSE 80\nCOPY httpd-foreground.sh /usr/local/bin/httpd-foreground\nRUN chmod 755 /usr/local/bin/httpd-foreground\nCMD [\"/usr/local/bin/httpd-foreground\"]\n")),
        (
            "e2e-test-images/nonewprivs:1.3",
            format!("{base}COPY nnp /usr/local/bin/nnp\nRUN chmod 4755 /usr/local/bin/nnp\nENTRYPOINT [\"/usr/local/bin/nnp\"]\n"),
        ),
        ("pause:3.9", pause),
        ("k8s-staging-cri-tools/hostnet-nginx-amd64:latest", web(12003)),
        ("k8s-staging-cri-tools/test-image-latest:latest", label("latest")),
        ("k8s-staging-cri-tools/test-image-tag:test", label("tag")),
        ("k8s-staging-cri-tools/test-image-tag:all", label("tag")),
        ("k8s-staging-cri-tools/test-image-1:latest", label("1")),
        ("k8s-staging-cri-tools/test-image-2:latest", label("2")),
        ("k8s-staging-cri-tools/test-image-3:latest", label("3")),
        ("k8s-staging-cri-tools/test-image-tags:1", label("tags")),
        ("k8s-staging-cri-tools/test-image-tags:2", label("tags")),
        ("k8s-staging-cri-tools/test-image-tags:3", label("tags")),
        ("k8s-staging-cri-tools/test-image-user-uid:latest", user("1002")),
        ("k8s-staging-cri-tools/test-image-user-username:latest", user("www-data")),
        ("k8s-staging-cri-tools/test-image-user-uid-group:latest", user("1003:1003")),
        ("k8s-staging-cri-tools/test-image-user-username-group:latest", user("www-data:www-data")),
        ("k8s-staging-cri-tools/test-image-predefined-group:latest", user("1000")),
    ]
}

/// The host's System V shared memory segments: (id, processes attached).
fn shm_segments() -> Vec<(u64, u64)> {
    std::fs::read_to_string("/proc/sysvipc/shm")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(1)?.parse().ok()?, f.get(6)?.parse().ok()?))
        })
        .collect()
}

/// One `<testcase>` of the JUnit report: (name, outcome, message).
fn junit_cases(xml: &str) -> Vec<(String, &'static str, String)> {
    let case = regex::Regex::new(r#"(?s)<testcase name="([^"]*)"[^>]*?(/>|>(.*?)</testcase>)"#).unwrap();
    let unescape = |s: &str| s.replace("&#34;", "\"").replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    case.captures_iter(xml)
        .map(|c| {
            let name = unescape(&c[1]);
            let body = c.get(3).map(|m| m.as_str()).unwrap_or("");
            let outcome = if body.contains("<failure") || body.contains("<error") {
                "failed"
            } else if body.contains("<skipped") {
                "skipped"
            } else {
                "passed"
            };
            let msg = regex::Regex::new(r#"message="([^"]*)""#).unwrap().captures(body).map(|m| unescape(&m[1])).unwrap_or_default();
            (name, outcome, msg)
        })
        .collect()
}

/// `critest/expected.txt`: every spec with its outcome, `passed <TAB> spec name`, or
/// `failed|skipped <TAB> spec name <TAB> reason`.
fn expected() -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/critest/expected.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let outcome = f.next().unwrap().to_string();
            assert!(["passed", "failed", "skipped"].contains(&outcome.as_str()), "expected.txt: bad outcome in {l:?}");
            let name = f.next().expect("spec name").to_string();
            let reason = f.next().unwrap_or("").to_string();
            assert!(outcome == "passed" || !reason.is_empty(), "expected.txt: {outcome} without a reason: {name}");
            (name, (outcome, reason))
        })
        .collect()
}

#[test]
fn critest_offline_with_standin_images() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let regdir = tempfile::tempdir().unwrap();
    let mut registry = Command::new(BERTH)
        .args(["registry", "--listen", &format!("127.0.0.1:{port}"), "--root"])
        .arg(regdir.path().join("reg"))
        .args(["--log-level", "warn"])
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _ = &mut registry;
    let _registry = Kill(registry);
    let mirror = format!("http://127.0.0.1:{port}");
    let mirrors: Vec<String> = ["registry.k8s.io", "k8s.gcr.io", "gcr.io"].iter().map(|r| format!("{r}={mirror}")).collect();
    let mut extra = vec![];
    for m in &mirrors {
        extra.push("--cri-registry-mirror");
        extra.push(m.as_str());
    }
    let c = CriDaemon::start_with("registry.k8s.io/pause:3.9", &extra);

    // Build and push the stand-ins (the pushes cross-mount the shared BusyBox layer).
    let ctx = tempfile::tempdir().unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/critest");
    for f in ["nginx.sh", "pgrep.sh", "ipcs.sh", "httpd-foreground.sh"] {
        std::fs::copy(here.join(f), ctx.path().join(f)).unwrap();
    }
    std::fs::copy(berth_fixtures::busybox_dynamic(), ctx.path().join("busybox-dynamic.tar.gz")).unwrap();
    // The nonewprivs and pause programs, static so they run on the BusyBox base (cc is the Rust
    // linker here).
    for prog in ["nnp", "pause"] {
        let cc = Command::new("cc").args(["-static", "-O2", "-o"]).arg(ctx.path().join(prog)).arg(here.join(format!("{prog}.c"))).output().unwrap();
        assert!(cc.status.success(), "cc {prog}.c: {}", stderr(&cc));
    }
    for (name, dockerfile) in standins() {
        let tag = format!("127.0.0.1:{port}/{name}");
        std::fs::write(ctx.path().join("Dockerfile"), &dockerfile).unwrap();
        c.d.berth_ok(&["build", "-q", "-t", &tag, ctx.path().to_str().unwrap()]);
        c.d.berth_ok(&["push", &tag]);
    }
    // Only the registry keeps them: critest counts the names an image has after its pulls.
    for (name, _) in standins() {
        c.d.berth_ok(&["rmi", &format!("127.0.0.1:{port}/{name}")]);
    }

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/critest");
    std::fs::create_dir_all(&out).unwrap();
    let report = out.join("junit.xml");
    let _ = std::fs::remove_file(&report);
    // critest's HostIpc specs make shared memory segments on the host with ipcmk and leave them.
    let segments_before = shm_segments();
    let started = std::time::Instant::now();
    let run = Command::new(cri_support::tool("critest"))
        .args(["--runtime-endpoint", &c.endpoint(), "--image-endpoint", &c.endpoint()])
        .arg(format!("--ginkgo.junit-report={}", report.display()))
        .args(["--ginkgo.no-color", "--ginkgo.timeout=30m"])
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs();
    for (id, attached) in shm_segments() {
        if attached == 0 && !segments_before.iter().any(|(b, _)| *b == id) {
            let _ = Command::new("ipcrm").args(["-m", &id.to_string()]).status();
        }
    }
    std::fs::write(out.join("critest.log"), [run.stdout.as_slice(), run.stderr.as_slice()].concat()).unwrap();
    let xml = std::fs::read_to_string(&report).unwrap_or_else(|_| panic!("critest wrote no report: {}{}", stdout(&run), stderr(&run)));
    let cases = junit_cases(&xml);
    assert!(cases.len() > 100, "critest ran {} specs", cases.len());

    let want = expected();
    let mut summary = String::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut wrong = vec![];
    for (name, outcome, msg) in &cases {
        *counts.entry(outcome).or_default() += 1;
        let listed = want.get(name);
        match (outcome, listed) {
            (o, Some((w, _))) if w == o => {}
            (&"passed", Some((w, _))) => wrong.push(format!("passes now, listed as {w} in expected.txt: {name}")),
            (o, Some((w, _))) => wrong.push(format!("{o}, listed as {w}: {name}: {}", msg.lines().next().unwrap_or(""))),
            (o, None) => wrong.push(format!("{o}, not in expected.txt: {name}: {}", msg.lines().next().unwrap_or(""))),
        }
        if *outcome != "passed" {
            let reason = listed.map(|l| l.1.as_str()).unwrap_or("NOT LISTED");
            summary.push_str(&format!("{outcome}\t{name}\t{reason}\n"));
        }
    }
    for name in want.keys().filter(|n| !cases.iter().any(|c| &c.0 == *n)) {
        wrong.push(format!("listed in expected.txt, not run: {name}"));
    }
    let head = format!(
        "critest 1.36.0 against Berth: {} specs, {} passed, {} failed, {} skipped ({secs} s)\n",
        cases.len(),
        counts.get("passed").unwrap_or(&0),
        counts.get("failed").unwrap_or(&0),
        counts.get("skipped").unwrap_or(&0)
    );
    std::fs::write(out.join("summary.txt"), format!("{head}{summary}")).unwrap();
    eprint!("{head}");
    assert!(wrong.is_empty(), "critest outcomes differ from tests/critest/expected.txt:\n{}\n(log: target/critest/critest.log)", wrong.join("\n"));
}
