//! Docker Compose (Debian's docker-compose, which drives the Engine API through docker-py) against
//! Berth: a project with a user network, a named volume, a published port and name resolution.

mod common;
use common::*;
use std::io::Read;

#[test]
fn compose_up_and_down_a_project() {
    let d = with_busybox();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let proj = d.dir.path().join("shop");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("docker-compose.yml"),
        format!(
            r#"version: "3.8"
services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /srv
    volumes: ["data:/srv"]
    ports: ["127.0.0.1:{port}:80"]
    networks: [back]
  init:
    image: busybox
    command: sh -c 'echo hello-compose > /srv/index.html'
    volumes: ["data:/srv"]
  client:
    image: busybox
    command: sh -c 'sleep 1; wget -qO- http://web/index.html'
    depends_on: [web]
    networks: [back]
volumes:
  data: {{}}
networks:
  back:
    ipam:
      config: [{{subnet: "{}"}}]
"#,
            d.net.subnet(9)
        ),
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let o = std::process::Command::new("docker-compose")
            .args(args)
            .current_dir(&proj)
            .env("DOCKER_HOST", d.host())
            .output()
            .expect("docker-compose (installed by scripts/setup.sh)");
        assert!(o.status.success(), "docker-compose {args:?}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    compose(&["up", "-d"]);
    let mut body = String::new();
    for _ in 0..50 {
        body.clear();
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            let _ = write!(s, "GET /index.html HTTP/1.0\r\n\r\n");
            let _ = s.read_to_string(&mut body);
            if body.contains("hello-compose") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(body.contains("hello-compose"), "the published port serves the volume's content: {body}");
    let ps = compose(&["ps"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    // The client resolved `web` through the embedded DNS of the project's network.
    let mut logs = String::new();
    for _ in 0..50 {
        logs = compose(&["logs", "client"]);
        if logs.contains("hello-compose") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(logs.contains("hello-compose"), "{logs}");
    let nets = d.berth_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(nets.contains("shop_back") && nets.contains("shop_default"), "{nets}");
    compose(&["down", "-v"]);
    assert_eq!(d.berth_ok(&["ps", "-aq"]).trim(), "", "down removes the containers");
    assert_eq!(d.berth_ok(&["volume", "ls", "-q"]).trim(), "", "down -v removes the volume");
    let nets = d.berth_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains("shop_"), "{nets}");
}
