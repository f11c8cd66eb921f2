//! The daemon driven through bollard, the Rust Docker SDK, exactly as a program using it would.

mod common;
use bollard::query_parameters::{CreateImageOptions, EventsOptions, ListImagesOptions, RemoveImageOptions, TagImageOptions};
use bollard::Docker;
use common::*;
use futures_util::StreamExt;
use std::collections::HashMap;

fn connect(d: &Daemon) -> Docker {
    Docker::connect_with_unix(d.sock.to_str().unwrap(), 30, bollard::API_DEFAULT_VERSION).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_manages_images_end_to_end() {
    let d = Daemon::start();
    let docker = connect(&d);
    assert_eq!(docker.ping().await.unwrap(), "OK");
    let v = docker.version().await.unwrap();
    assert_eq!(v.api_version.as_deref(), Some("1.47"));
    assert_eq!(v.os.as_deref(), Some("linux"));

    // Import (POST /images/create?fromSrc=-) with changes.
    let tarball = std::fs::read(busybox_tarball()).unwrap();
    let opts = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some("sdk/busybox".into()),
        tag: Some("v1".into()),
        changes: vec!["CMD [\"sh\"]".into(), "LABEL team=berth".into()],
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(opts), Some(bollard::body_full(tarball.into())), None);
    let mut statuses = Vec::new();
    while let Some(m) = stream.next().await {
        statuses.push(m.unwrap().status.unwrap_or_default());
    }
    let id = statuses.last().cloned().unwrap();
    assert!(id.starts_with("sha256:"), "{statuses:?}");

    let filters = HashMap::from([("label".to_string(), vec!["team=berth".to_string()])]);
    let list = docker.list_images(Some(ListImagesOptions { filters: Some(filters), ..Default::default() })).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, id);
    assert_eq!(list[0].repo_tags, vec!["sdk/busybox:v1".to_string()]);
    assert!(list[0].size > 1_000_000);

    let info = docker.inspect_image("sdk/busybox:v1").await.unwrap();
    assert_eq!(info.id.as_deref(), Some(id.as_str()));
    assert_eq!(info.config.unwrap().cmd, Some(vec!["sh".to_string()]));

    docker
        .tag_image("sdk/busybox:v1", Some(TagImageOptions { repo: Some("localhost:5000/x".into()), tag: Some("t".into()) }))
        .await
        .unwrap();
    let hist = docker.image_history("localhost:5000/x:t").await.unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].id, id);

    // Export, remove, load back: the same image id.
    let mut archive = Vec::new();
    let mut ex = docker.export_image("sdk/busybox:v1");
    while let Some(chunk) = ex.next().await {
        archive.extend_from_slice(&chunk.unwrap());
    }
    let removed = docker.remove_image(&id, Some(RemoveImageOptions { force: true, noprune: false }), None).await.unwrap();
    assert!(removed.iter().any(|r| r.deleted.as_deref() == Some(id.as_str())));
    let err = docker.inspect_image(&id).await.unwrap_err();
    assert!(matches!(err, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }), "{err:?}");
    let mut load = docker.import_image(bollard::query_parameters::ImportImageOptions::default(), bollard::body_full(archive.into()), None);
    while let Some(m) = load.next().await {
        m.unwrap();
    }
    assert_eq!(docker.inspect_image("sdk/busybox:v1").await.unwrap().id.as_deref(), Some(id.as_str()));

    // Events over the same period, ending at `until`.
    let now = chrono::Utc::now().timestamp() + 1;
    let mut ev = docker.events(Some(EventsOptions { since: Some("0".into()), until: Some(now.to_string()), filters: None }));
    let mut actions = Vec::new();
    while let Some(e) = ev.next().await {
        actions.push(e.unwrap().action.unwrap_or_default());
    }
    assert_eq!(actions, ["import", "tag", "save", "untag", "untag", "delete", "load"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_sees_docker_errors() {
    let d = Daemon::start();
    let docker = connect(&d);
    let err = docker.remove_image("nope:1", None::<RemoveImageOptions>, None).await.unwrap_err();
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, message } => {
            assert_eq!(status_code, 404);
            assert_eq!(message, "No such image: nope:1");
        }
        e => panic!("unexpected {e:?}"),
    }
    let err = docker.tag_image("nope:1", Some(TagImageOptions { repo: Some("x".into()), tag: None })).await.unwrap_err();
    assert!(matches!(err, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }));
}

/// A one-file tar whose header is as tar-rs's `Header::new_gnu` leaves it (uid, gid, mtime: NUL
/// bytes, which Go's archive/tar reads as 0), gzip-compressed: what bollard's own tests (and
/// programs written like them) send as a build context or to `upload_to_container`.
fn bare_header_tar_gz(name: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut header = tar::Header::new_gnu();
    header.set_path(name).unwrap();
    header.set_size(data.len() as u64);
    header.set_mode(0o744);
    header.set_cksum();
    let mut tar = tar::Builder::new(Vec::new());
    tar.append(&header, data).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// A busybox container running `cmd` under restart `policy`.
fn with_restart_policy(cmd: &[&str], policy: bollard::models::RestartPolicy) -> bollard::models::ContainerCreateBody {
    bollard::models::ContainerCreateBody {
        image: Some("busybox:latest".into()),
        cmd: Some(cmd.iter().map(|a| a.to_string()).collect()),
        host_config: Some(bollard::models::HostConfig { restart_policy: Some(policy), ..Default::default() }),
        ..Default::default()
    }
}

async fn create(docker: &Docker, name: &str, body: bollard::models::ContainerCreateBody) -> String {
    let opts = bollard::query_parameters::CreateContainerOptionsBuilder::new().name(name).build();
    docker.create_container(Some(opts), body).await.unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_uploads_a_gzip_archive() {
    use bollard::query_parameters::{DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder};
    let d = with_busybox();
    let docker = connect(&d);
    let body = bollard::models::ContainerCreateBody { image: Some("busybox:latest".into()), ..Default::default() };
    let id = create(&docker, "sdk-archive", body).await;
    // PUT /containers/{id}/archive takes a compressed tar, as dockerd does.
    let payload = bare_header_tar_gz("readme.txt", b"Hello from Bollard!");
    let opts = UploadToContainerOptionsBuilder::new().path("/tmp").build();
    docker.upload_to_container(&id, Some(opts), bollard::body_full(payload.into())).await.unwrap();
    let mut out = Vec::new();
    let mut s = docker.download_from_container(&id, Some(DownloadFromContainerOptionsBuilder::new().path("/tmp/readme.txt").build()));
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    let mut ar = tar::Archive::new(&out[..]);
    let mut e = ar.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.path().unwrap().to_str(), Some("readme.txt"));
    assert_eq!((e.header().uid().unwrap(), e.header().mode().unwrap() & 0o777), (0, 0o744));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut e, &mut text).unwrap();
    assert_eq!(text, "Hello from Bollard!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_builds_from_a_context_with_bare_headers() {
    use bollard::query_parameters::BuildImageOptionsBuilder;
    let d = with_busybox();
    let docker = connect(&d);
    // An empty uid, gid or mtime field is 0, as in Go's archive/tar.
    let context = bare_header_tar_gz("Dockerfile", b"FROM busybox:latest\nLABEL sdk=bollard\n");
    let opts = BuildImageOptionsBuilder::new().dockerfile("Dockerfile").t("sdk/built:1").rm(true).build();
    let mut s = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
    while let Some(m) = s.next().await {
        let m = m.unwrap();
        assert!(m.error.is_none(), "{m:?}");
    }
    let img = docker.inspect_image("sdk/built:1").await.unwrap();
    assert_eq!(img.config.unwrap().labels.unwrap().get("sdk").map(String::as_str), Some("bollard"));
}

/// As dockerd (`ExitOnNext`): a kill stops the container by hand, its restart policy does not
/// bring it back, and a start by hand gives the policy back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_kill_is_not_restarted_by_the_policy() {
    use bollard::models::{ContainerStateStatusEnum as St, RestartPolicy, RestartPolicyNameEnum};
    use bollard::query_parameters::{KillContainerOptions, StartContainerOptions, WaitContainerOptions};
    let d = with_busybox();
    let docker = connect(&d);
    let body = with_restart_policy(&["sh", "-c", "sleep 2; exit 3"], RestartPolicy { name: Some(RestartPolicyNameEnum::ON_FAILURE), maximum_retry_count: Some(3) });
    let id = create(&docker, "sdk-kill", body).await;
    docker.start_container(&id, None::<StartContainerOptions>).await.unwrap();
    docker.kill_container(&id, None::<KillContainerOptions>).await.unwrap();
    let mut w = docker.wait_container(&id, None::<WaitContainerOptions>);
    while w.next().await.is_some() {}
    // The policy's first restart would come 100 ms after the exit.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let c = docker.inspect_container(&id, None::<bollard::query_parameters::InspectContainerOptions>).await.unwrap();
    let state = c.state.unwrap();
    assert_eq!((state.status, state.exit_code, c.restart_count), (Some(St::EXITED), Some(137), Some(0)));

    // Started again by hand, its failing exit (2 s on) is restarted by the policy again.
    docker.start_container(&id, None::<StartContainerOptions>).await.unwrap();
    assert!(
        wait_for(std::time::Duration::from_secs(20), || {
            let out = d.berth_ok(&["inspect", "-f", "{{.RestartCount}}", &id]);
            out.trim() != "0"
        }),
        "not restarted by its policy after a start by hand"
    );
}

/// Between an exit and its policy's restart (`restarting`), a kill answers 204 and cancels the
/// restart, as dockerd's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_kill_cancels_a_pending_restart() {
    use bollard::models::{ContainerStateStatusEnum as St, RestartPolicy, RestartPolicyNameEnum};
    use bollard::query_parameters::{InspectContainerOptions, KillContainerOptions, StartContainerOptions};
    let d = with_busybox();
    let docker = connect(&d);
    let body = with_restart_policy(&["false"], RestartPolicy { name: Some(RestartPolicyNameEnum::ALWAYS), maximum_retry_count: None });
    let id = create(&docker, "sdk-kill-restarting", body).await;
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 1;
    docker.start_container(&id, None::<StartContainerOptions>).await.unwrap();
    // The back-off doubles from 100 ms: after the 5th exit it waits 1.6 s (the exit is announced
    // once the restart is scheduled).
    let filters = HashMap::from([("container".to_string(), vec![id.clone()]), ("event".to_string(), vec!["die".to_string()])]);
    let mut events = docker.events(Some(EventsOptions { since: Some(since.to_string()), filters: Some(filters), ..Default::default() }));
    let mut dies = 0;
    while dies < 5 {
        tokio::time::timeout(std::time::Duration::from_secs(30), events.next()).await.expect("a die event").unwrap().unwrap();
        dies += 1;
    }
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.Status}}", &id]).trim(), "restarting");
    docker.kill_container(&id, None::<KillContainerOptions>).await.unwrap();
    let count = docker.inspect_container(&id, None::<InspectContainerOptions>).await.unwrap().restart_count;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let c = docker.inspect_container(&id, None::<InspectContainerOptions>).await.unwrap();
    assert_eq!((c.state.unwrap().status, c.restart_count), (Some(St::EXITED), count));
}
