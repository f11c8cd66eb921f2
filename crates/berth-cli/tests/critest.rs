//! critest, the Kubernetes CRI validation suite (cri-tools 1.36, `tools/cri-tools/`), against a
//! Berth daemon serving the CRI, offline: the images critest pulls (`tools/cri-tools/test-images.txt`)
//! are stand-ins built here from Dockerfiles on the BusyBox fixture, pushed to a local
//! `berth registry`, which the daemon's CRI side uses as the mirror of registry.k8s.io, k8s.gcr.io
//! and gcr.io. Every spec's outcome is compared with `critest/expected.txt`: a spec that fails or
//! skips must be listed there with its reason, and a listed spec that passes fails the test too
//! (so the list stays true). Counts go to `target/critest/summary.txt`.

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
    let base = format!("FROM busybox:latest\n{users}\n");
    let web = |port: u16| {
        format!(
            "{base}COPY nginx.sh /usr/sbin/nginx\nRUN chmod 755 /usr/sbin/nginx && mkdir -p /usr/share/nginx/html /var/run \
             && echo '<h1>Welcome to nginx!</h1>' > /usr/share/nginx/html/index.html\nENV PORT={port}\nEXPOSE {port}\n\
             CMD [\"/usr/sbin/nginx\", \"-g\", \"master process\"]\n"
        )
    };
    let pause = "FROM busybox:latest\nENTRYPOINT [\"/bin/sleep\", \"2147483647\"]\n".to_string();
    let user = |u: &str| format!("{base}USER {u}\n");
    let label = |n: &str| format!("{base}LABEL berth.test.image={n}\n");
    vec![
        ("e2e-test-images/busybox:1.29-2", base.clone()),
        ("e2e-test-images/nginx:1.14-2", web(80)),
        ("e2e-test-images/httpd:2.4.39-4", format!("{base}RUN mkdir -p /usr/local/apache2/htdocs && echo '<html><body><h1>It works!</h1></body></html>' > /usr/local/apache2/htdocs/index.html\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/usr/local/apache2/htdocs\"]\n")),
        ("e2e-test-images/nonewprivs:1.3", format!("{base}CMD [\"id\", \"-u\"]\n")),
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

/// `critest/expected.txt`: `failed|skipped <TAB> spec name <TAB> reason`.
fn expected() -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/critest/expected.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let outcome = f.next().unwrap().to_string();
            let name = f.next().expect("spec name").to_string();
            let reason = f.next().expect("reason").to_string();
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
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/critest/nginx.sh"), ctx.path().join("nginx.sh")).unwrap();
    for (name, dockerfile) in standins() {
        let tag = format!("127.0.0.1:{port}/{name}");
        std::fs::write(ctx.path().join("Dockerfile"), &dockerfile).unwrap();
        c.d.berth_ok(&["build", "-q", "-t", &tag, ctx.path().to_str().unwrap()]);
        c.d.berth_ok(&["push", &tag]);
    }

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/critest");
    std::fs::create_dir_all(&out).unwrap();
    let report = out.join("junit.xml");
    let _ = std::fs::remove_file(&report);
    let started = std::time::Instant::now();
    let run = Command::new(cri_support::tool("critest"))
        .args(["--runtime-endpoint", &c.endpoint(), "--image-endpoint", &c.endpoint()])
        .arg(format!("--ginkgo.junit-report={}", report.display()))
        .args(["--ginkgo.no-color", "--ginkgo.timeout=30m"])
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs();
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
            (&"passed", None) => {}
            (&"passed", Some(_)) => wrong.push(format!("passes now, remove it from expected.txt: {name}")),
            (o, Some((w, _))) if w == o => {}
            (o, _) => wrong.push(format!("{o} (not listed as such): {name}: {}", msg.lines().next().unwrap_or(""))),
        }
        if *outcome != "passed" {
            let reason = listed.map(|l| l.1.as_str()).unwrap_or("NOT LISTED");
            summary.push_str(&format!("{outcome}\t{name}\t{reason}\n"));
        }
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
