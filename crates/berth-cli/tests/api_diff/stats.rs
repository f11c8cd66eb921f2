//! `GET /containers/{id}/stats`: every key path of dockerd's sample (cgroup v1 on this host: the
//! eight blkio lists, per-CPU usage, the `memory.stat` keys, pids with a limit, a bridge
//! interface's counters), compared with numbers normalised (`Cmp::Keys`), for `one-shot` and for
//! a sample with its pre-sample; a container that is not running answers dockerd's zero sample.
//! An exec writes with O_DIRECT first, so the blkio lists have entries on both.

use crate::cases::{create, Case};
use crate::compare::Cmp;

pub fn all() -> Vec<Case> {
    let ep = "GET /containers/{id}/stats";
    let dd = r#"{"Cmd":["sh","-c","dd if=/dev/zero of=/x bs=4k count=64 oflag=direct 2>/dev/null; echo written"],"AttachStdout":true,"AttachStderr":true}"#;
    vec![
        create(
            "stats-create",
            "ad-st",
            r#"{"Image":"busybox","Cmd":["sleep","60"],"HostConfig":{"NetworkMode":"bridge","Memory":67108864,"PidsLimit":50}}"#,
            &["b:HostConfig.Memory", "b:HostConfig.PidsLimit"],
        ),
        Case::new("stats-start", "POST", "/containers/ad-st/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("stats-io-exec", "POST", "/containers/ad-st/exec", "POST /containers/{id}/exec", &["b:Cmd"], Cmp::Shape).json(dd).save("statsexec", "Id"),
        Case::new("stats-io-exec-start", "POST", "/exec/{statsexec}/start", "POST /exec/{id}/start", &["b:Detach"], Cmp::Frames)
            .json(r#"{"Detach":false,"Tty":false}"#)
            .upgrade(),
        Case::new("stats-one-shot", "GET", "/containers/ad-st/stats?stream=0&one-shot=1", ep, &["p:id", "q:stream", "q:one-shot"], Cmp::Keys),
        Case::new("stats-no-stream", "GET", "/containers/ad-st/stats?stream=false", ep, &["q:stream"], Cmp::Keys),
        Case::new("stats-remove", "DELETE", "/containers/ad-st?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        create("stats-created", "ad-st2", r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}"#, &["b:Cmd"]),
        Case::new("stats-not-running", "GET", "/containers/ad-st2/stats?stream=0", ep, &["q:stream"], Cmp::Json),
        Case::new("stats-not-running-one-shot", "GET", "/containers/ad-st2/stats?stream=0&one-shot=1", ep, &["q:one-shot"], Cmp::Json),
        Case::new("stats-missing", "GET", "/containers/nosuch/stats?stream=0", ep, &["p:id"], Cmp::Status),
        Case::new("stats-remove-2", "DELETE", "/containers/ad-st2", "DELETE /containers/{id}", &["p:id"], Cmp::Headers),
    ]
}
