//! The log drivers beside json-file, driven through the stock docker CLI: `syslog` to listeners the
//! test binds (unixgram, unix, udp and tcp on loopback), `journald` to a fake journal socket the
//! test binds (given to the daemon with `--journald-socket`; never the host's journald), `local`
//! with gzipped rotation, and dockerd's refusals (unknown options, unreachable destinations,
//! `docker logs` with `cache-disabled`).

mod common;
use common::*;
use std::io::{BufRead, Read};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::time::Duration;

/// Receives `n` datagrams (or fails after 10 s).
fn recv_datagrams(s: &UnixDatagram, n: usize) -> Vec<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 65536];
    (0..n).map(|i| s.recv(&mut buf).map(|len| buf[..len].to_vec()).unwrap_or_else(|e| panic!("datagram {i} of {n}: {e}"))).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(d: &Daemon, args: &[&str]) -> String {
    let mut all = vec!["run", "--network", "none"];
    all.extend_from_slice(args);
    d.docker_ok(&all)
}

#[test]
fn syslog_lines_reach_every_kind_of_socket_in_the_asked_format() {
    let d = with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let hostname = nix::unistd::gethostname().unwrap().to_string_lossy().into_owned();

    // unixgram, the default format: `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`, stdout LOG_INFO, stderr LOG_ERR.
    let gram = dir.path().join("gram.sock");
    let server = UnixDatagram::bind(&gram).unwrap();
    let addr = format!("syslog-address=unixgram://{}", gram.display());
    let out = run(&d, &["--name", "sl1", "--log-driver", "syslog", "--log-opt", &addr, "busybox", "sh", "-c", "echo to-out; echo to-err >&2"]);
    assert_eq!(out, "to-out\n", "the docker CLI attaches as usual");
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "sl1"]).trim().to_string();
    let mut msgs: Vec<String> = recv_datagrams(&server, 2).iter().map(|m| text(m)).collect();
    msgs.sort();
    let re = regex::Regex::new(r"^<(\d+)>[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d ([0-9a-f]{12})\[\d+\]: (.*)\n$").unwrap();
    let parsed: Vec<(String, String, String)> = msgs
        .iter()
        .map(|m| {
            let c = re.captures(m).unwrap_or_else(|| panic!("not srslog's unix format: {m:?}"));
            (c[1].to_string(), c[2].to_string(), c[3].to_string())
        })
        .collect();
    assert_eq!(parsed, vec![("27".into(), id[..12].to_string(), "to-err".into()), ("30".into(), id[..12].to_string(), "to-out".into())]);
    // dockerd 20.10 keeps a local copy (dual logging): docker logs still reads.
    assert_eq!(d.docker_ok(&["logs", "sl1"]), "to-out\n");

    // udp, rfc5424, a facility and a tag template.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let addr = format!("syslog-address=udp://{}", udp.local_addr().unwrap());
    run(&d, &["--name", "sl2", "--log-driver", "syslog", "--log-opt", &addr, "--log-opt", "syslog-format=rfc5424", "--log-opt", "syslog-facility=local3",
        "--log-opt", "tag={{.Name}}/{{.ImageName}}", "busybox", "echo", "over-udp"]);
    let mut buf = [0u8; 2048];
    let n = udp.recv(&mut buf).unwrap();
    let m = text(&buf[..n]);
    let re = regex::Regex::new(r"^<158>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) (\S+) sl2/busybox \d+ sl2/busybox - over-udp\n$").unwrap();
    let c = re.captures(&m).unwrap_or_else(|| panic!("not rfc5424 with facility local3 and the tag: {m:?}"));
    assert_eq!(&c[2], hostname);

    // tcp (newline-framed), rfc3164.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("syslog-address=tcp://{}", tcp.local_addr().unwrap());
    let accept = std::thread::spawn(move || {
        let (s, _) = tcp.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        std::io::BufReader::new(s).lines().take(2).map(|l| l.unwrap()).collect::<Vec<_>>()
    });
    run(&d, &["--name", "sl3", "--log-driver", "syslog", "--log-opt", &addr, "--log-opt", "syslog-format=rfc3164", "busybox", "sh", "-c", "echo one; echo two"]);
    let lines = accept.join().unwrap();
    assert_eq!(lines.len(), 2);
    for (l, want) in lines.iter().zip(["one", "two"]) {
        assert!(l.starts_with("<30>") && l.contains(&format!(" {hostname} ")) && l.ends_with(&format!("]: {want}")), "{l}");
    }

    // unix (a stream socket).
    let stream = dir.path().join("stream.sock");
    let listener = UnixListener::bind(&stream).unwrap();
    let addr = format!("syslog-address=unix://{}", stream.display());
    let accept = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        got
    });
    run(&d, &["--rm", "--log-driver", "syslog", "--log-opt", &addr, "busybox", "echo", "over-unix"]);
    let got = accept.join().unwrap();
    assert!(got.ends_with("]: over-unix\n") && got.starts_with("<30>"), "{got:?}");
}

#[test]
fn syslog_refusals_are_dockerd_s() {
    let d = with_busybox();
    let create = |opts: &[&str]| {
        let mut args = vec!["create", "--network", "none", "--log-driver", "syslog"];
        for o in opts {
            args.extend_from_slice(&["--log-opt", o]);
        }
        args.extend_from_slice(&["busybox", "true"]);
        let o = d.docker(&args);
        assert!(!o.status.success(), "{opts:?} was accepted");
        stderr(&o)
    };
    assert!(create(&["max-size=1m"]).contains("unknown log opt 'max-size' for syslog log driver"));
    assert!(create(&["syslog-address=127.0.0.1:514"]).contains("syslog-address should be in form proto://address, got 127.0.0.1:514"));
    assert!(create(&["syslog-address=unixgram:///nonexistent/log"]).contains("stat /nonexistent/log: no such file or directory"));
    assert!(create(&["syslog-facility=nope"]).contains("invalid syslog facility"));
    assert!(create(&["syslog-format=rfc5425"]).contains("Invalid syslog format"));
    let o = d.docker(&["create", "--log-driver", "local", "--log-opt", "tag=x", "busybox", "true"]);
    assert!(stderr(&o).contains("unknown log opt 'tag' for log driver local"), "{}", stderr(&o));

    // Nothing listens there: the start fails before the process runs, with the dial error.
    let port = free_port();
    let addr = format!("syslog-address=tcp://127.0.0.1:{port}");
    d.docker_ok(&["create", "--name", "unreach", "--network", "none", "--log-driver", "syslog", "--log-opt", &addr, "busybox", "echo", "never"]);
    let o = d.docker(&["start", "unreach"]);
    assert!(!o.status.success());
    let want = format!("failed to initialize logging driver: dial tcp 127.0.0.1:{port}: connect: connection refused");
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "unreach"]).trim(), "created");

    // Without the local copy, docker logs has nothing to read: dockerd's 501.
    let dir = tempfile::tempdir().unwrap();
    let gram = dir.path().join("gram.sock");
    let server = UnixDatagram::bind(&gram).unwrap();
    let addr = format!("syslog-address=unixgram://{}", gram.display());
    run(&d, &["--name", "nocache", "--log-driver", "syslog", "--log-opt", &addr, "--log-opt", "cache-disabled=true", "busybox", "echo", "gone"]);
    assert!(text(&recv_datagrams(&server, 1)[0]).ends_with(": gone\n"));
    let (status, _, body) = http(&d.sock, "GET", "/containers/nocache/logs?stdout=1", b"");
    assert_eq!(status, 501);
    assert!(text(&body).contains("configured logging driver does not support reading"), "{}", text(&body));
}

/// Splits one native-protocol journal entry into its fields (values with newlines in the binary form).
fn journal_fields(mut b: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let nl = b.iter().position(|&c| c == b'\n').expect("a field ends with a newline");
        let line = &b[..nl];
        if let Some(eq) = line.iter().position(|&c| c == b'=') {
            out.push((text(&line[..eq]), text(&line[eq + 1..])));
            b = &b[nl + 1..];
        } else {
            let len = u64::from_le_bytes(b[nl + 1..nl + 9].try_into().unwrap()) as usize;
            out.push((text(line), text(&b[nl + 9..nl + 9 + len])));
            b = &b[nl + 9 + len + 1..];
        }
    }
    out
}

#[test]
fn journald_entries_carry_dockerd_s_fields() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("journal.sock");
    let d = Daemon::start_with(&["--journald-socket", sock.to_str().unwrap()]);
    d.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);

    // No journal listening: the start fails as dockerd's does on a host without journald.
    d.docker_ok(&["create", "--name", "nojournal", "--network", "none", "--log-driver", "journald", "busybox", "true"]);
    let o = d.docker(&["start", "nojournal"]);
    assert!(stderr(&o).contains("failed to initialize logging driver: journald is not enabled on this host"), "{}", stderr(&o));

    let journal = UnixDatagram::bind(&sock).unwrap();
    run(&d, &["--name", "jd", "--label", "com.example.team=infra", "-e", "STAGE=test", "--log-driver", "journald", "--log-opt", "labels=com.example.team",
        "--log-opt", "env=STAGE", "--log-opt", "tag=web", "busybox", "sh", "-c", "echo hello; echo bad >&2; printf 'last'"]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "jd"]).trim().to_string();
    let entries: Vec<Vec<(String, String)>> = recv_datagrams(&journal, 3).iter().map(|e| journal_fields(e)).collect();
    let by_message = |m: &str| entries.iter().find(|e| e.iter().any(|(k, v)| k == "MESSAGE" && v == m)).unwrap_or_else(|| panic!("no entry {m:?} in {entries:?}"));
    let hello = by_message("hello");
    let field = |e: &Vec<(String, String)>, k: &str| e.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {k} in {e:?}"));
    assert_eq!(hello[0], ("PRIORITY".into(), "6".into()), "PRIORITY first, then MESSAGE: {hello:?}");
    assert_eq!(hello[1].0, "MESSAGE");
    assert_eq!(field(hello, "CONTAINER_ID"), id[..12]);
    assert_eq!(field(hello, "CONTAINER_ID_FULL"), id);
    assert_eq!(field(hello, "CONTAINER_NAME"), "jd");
    assert_eq!(field(hello, "CONTAINER_TAG"), "web");
    assert_eq!(field(hello, "SYSLOG_IDENTIFIER"), "web");
    assert_eq!(field(hello, "IMAGE_NAME"), "busybox");
    assert_eq!(field(hello, "COM_EXAMPLE_TEAM"), "infra");
    assert_eq!(field(hello, "STAGE"), "test");
    assert_eq!(field(by_message("bad"), "PRIORITY"), "3");
    assert_eq!(field(by_message("last"), "PRIORITY"), "6");
    // dockerd reads journald logs back from the journal; Berth from its local copy: the same lines.
    assert_eq!(d.docker_ok(&["logs", "jd"]), "hello\nlast");
    let o = d.docker(&["create", "--log-driver", "journald", "--log-opt", "syslog-address=udp://127.0.0.1", "busybox", "true"]);
    assert!(stderr(&o).contains("unknown log opt 'syslog-address' for journald log driver"), "{}", stderr(&o));
}

#[test]
fn local_driver_rotates_into_gzipped_files_docker_logs_reads() {
    let d = with_busybox();
    // 400 lines of ~60 bytes over files of 4 KiB, 3 kept: the oldest are gone, the rest readable.
    run(&d, &["--name", "loc", "--log-driver", "local", "--log-opt", "max-size=4k", "--log-opt", "max-file=3", "busybox", "sh", "-c",
        "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "loc"]).trim().to_string();
    let dir = d.root().join("containers").join(&id);
    let names: Vec<String> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("container.log")).collect();
    assert!(names.contains(&"container.log.1.gz".to_string()) && names.contains(&"container.log.2.gz".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n == "container.log.1" || n == "container.log.3.gz"), "{names:?}");
    let logs = d.docker_ok(&["logs", "loc"]);
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.last(), Some(&"line-399"));
    let first: usize = lines[0].strip_prefix("line-").unwrap().parse().unwrap();
    assert!(first > 0, "the oldest lines were rotated away");
    let want: Vec<String> = (first..400).map(|i| format!("line-{i}")).collect();
    assert_eq!(lines, want, "every kept line once, in order, across the gzipped files");
    assert_eq!(d.docker_ok(&["logs", "--tail", "50", "loc"]).lines().collect::<Vec<_>>(), want[want.len() - 50..]);
    let o = d.docker(&["create", "--log-driver", "json-file", "--log-opt", "nope=1", "busybox", "true"]);
    assert!(stderr(&o).contains("unknown log opt 'nope' for json-file log driver"), "{}", stderr(&o));
}
