//! The parameters of the swarm-family and plugin endpoints. dockerd outside a swarm checks some
//! of them (query values, JSON bodies, filters) before it finds it is no manager, and answers the
//! rest with 503; with no plugin installed it answers "not found" for any plugin name, also names
//! with a registry path (`vieux/sshfs:latest`). Berth, which implements neither, answers the same.

use crate::cases::{enc, Case};
use crate::compare::Cmp;

fn c(name: &'static str, method: &'static str, path: &str, ep: &'static str, params: &'static [&'static str]) -> Case {
    Case::new(name, method, path, ep, params, Cmp::Json)
}

pub fn all() -> Vec<Case> {
    let f = |j: &str| enc(j);
    let spec = r#"{"Name":"default","Orchestration":{"TaskHistoryRetentionLimit":5}}"#;
    let service = r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":1}}}"#;
    let logs = "details=1&follow=0&stdout=1&stderr=1&since=0&timestamps=1&tail=10";
    let log_params: &'static [&'static str] = &["p:id", "q:details", "q:follow", "q:stdout", "q:stderr", "q:since", "q:timestamps", "q:tail"];
    vec![
        // Swarm.
        c("sw-leave-noforce", "POST", "/swarm/leave?force=0", "POST /swarm/leave", &["q:force"]),
        c("sw-leave-bad-force", "POST", "/swarm/leave?force=maybe", "POST /swarm/leave", &["q:force"]),
        c(
            "sw-update",
            "POST",
            "/swarm/update?version=3&rotateWorkerToken=1&rotateManagerToken=0&rotateManagerUnlockKey=true",
            "POST /swarm/update",
            &["q:version", "q:rotateWorkerToken", "q:rotateManagerToken", "q:rotateManagerUnlockKey", "b:body"],
        )
        .json(spec),
        c("sw-update-bad-version", "POST", "/swarm/update?version=x", "POST /swarm/update", &["q:version"]).json(spec),
        c("sw-update-bad-rotate", "POST", "/swarm/update?version=1&rotateWorkerToken=maybe", "POST /swarm/update", &["q:rotateWorkerToken"]).json(spec),
        c("sw-update-bad-body", "POST", "/swarm/update?version=1", "POST /swarm/update", &["b:body"]).json("{"),
        c("sw-unlock-key", "POST", "/swarm/unlock", "POST /swarm/unlock", &["b:UnlockKey"]).json(r#"{"UnlockKey":"SWMKEY-1-abc"}"#),
        c("sw-unlock-bad-body", "POST", "/swarm/unlock", "POST /swarm/unlock", &["b:UnlockKey"]).json("{"),
        // Nodes.
        c("sw-nodes-filtered", "GET", &format!("/nodes?filters={}", f(r#"{"role":["manager"]}"#)), "GET /nodes", &["q:filters"]),
        c("sw-nodes-bad-filters", "GET", "/nodes?filters=nojson", "GET /nodes", &["q:filters"]),
        c("sw-node-inspect", "GET", "/nodes/node1", "GET /nodes/{id}", &["p:id"]),
        c("sw-node-delete", "DELETE", "/nodes/node1?force=1", "DELETE /nodes/{id}", &["p:id", "q:force"]),
        c("sw-node-update", "POST", "/nodes/node1/update?version=3", "POST /nodes/{id}/update", &["p:id", "q:version", "b:body"])
            .json(r#"{"Role":"worker","Availability":"drain"}"#),
        c("sw-node-update-bad-version", "POST", "/nodes/node1/update?version=x", "POST /nodes/{id}/update", &["q:version"]).json("{}"),
        c("sw-node-update-bad-body", "POST", "/nodes/node1/update?version=1", "POST /nodes/{id}/update", &["b:body"]).json("{"),
        // Services.
        c("sw-services-filtered", "GET", &format!("/services?status=1&filters={}", f(r#"{"name":["web"]}"#)), "GET /services", &["q:filters", "q:status"]),
        c("sw-services-bad-filters", "GET", "/services?filters=nojson", "GET /services", &["q:filters"]),
        c("sw-services-bad-status", "GET", "/services?status=maybe", "GET /services", &["q:status"]),
        c("sw-service-create", "POST", "/services/create", "POST /services/create", &["b:body"]).json(service),
        c("sw-service-create-bad-body", "POST", "/services/create", "POST /services/create", &["b:body"]).json("{"),
        c("sw-service-inspect", "GET", "/services/web?insertDefaults=1", "GET /services/{id}", &["p:id", "q:insertDefaults"]),
        c("sw-service-inspect-bad-defaults", "GET", "/services/web?insertDefaults=maybe", "GET /services/{id}", &["q:insertDefaults"]),
        c("sw-service-delete", "DELETE", "/services/web", "DELETE /services/{id}", &["p:id"]),
        c(
            "sw-service-update",
            "POST",
            "/services/web/update?version=2&registryAuthFrom=previous-spec&rollback=previous",
            "POST /services/{id}/update",
            &["p:id", "q:version", "q:registryAuthFrom", "q:rollback", "b:body"],
        )
        .json(service),
        c("sw-service-update-bad-version", "POST", "/services/web/update?version=x", "POST /services/{id}/update", &["q:version"]).json(service),
        c("sw-service-update-bad-body", "POST", "/services/web/update?version=1", "POST /services/{id}/update", &["b:body"]).json("{"),
        c("sw-service-logs", "GET", &format!("/services/web/logs?{logs}"), "GET /services/{id}/logs", log_params),
        c("sw-service-logs-no-stream", "GET", "/services/web/logs", "GET /services/{id}/logs", &["q:stdout", "q:stderr"]),
        // Tasks.
        c("sw-tasks-filtered", "GET", &format!("/tasks?filters={}", f(r#"{"desired-state":["running"]}"#)), "GET /tasks", &["q:filters"]),
        c("sw-tasks-bad-filters", "GET", "/tasks?filters=nojson", "GET /tasks", &["q:filters"]),
        c("sw-task-inspect", "GET", "/tasks/task1", "GET /tasks/{id}", &["p:id"]),
        c("sw-task-logs", "GET", &format!("/tasks/task1/logs?{logs}"), "GET /tasks/{id}/logs", log_params),
        c("sw-task-logs-no-stream", "GET", "/tasks/task1/logs", "GET /tasks/{id}/logs", &["q:stdout", "q:stderr"]),
        // Secrets and configs.
        c("sw-secrets-filtered", "GET", &format!("/secrets?filters={}", f(r#"{"name":["s1"]}"#)), "GET /secrets", &["q:filters"]),
        c("sw-secrets-bad-filters", "GET", "/secrets?filters=nojson", "GET /secrets", &["q:filters"]),
        c("sw-secret-create", "POST", "/secrets/create", "POST /secrets/create", &["b:body"]).json(r#"{"Name":"s1","Data":"c2VjcmV0","Labels":{"a":"b"}}"#),
        c("sw-secret-create-bad-body", "POST", "/secrets/create", "POST /secrets/create", &["b:body"]).json("{"),
        c("sw-secret-inspect", "GET", "/secrets/s1", "GET /secrets/{id}", &["p:id"]),
        c("sw-secret-delete", "DELETE", "/secrets/s1", "DELETE /secrets/{id}", &["p:id"]),
        c("sw-secret-update", "POST", "/secrets/s1/update?version=4", "POST /secrets/{id}/update", &["p:id", "q:version", "b:body"])
            .json(r#"{"Name":"s1","Labels":{"a":"c"}}"#),
        c("sw-secret-update-bad-version", "POST", "/secrets/s1/update?version=x", "POST /secrets/{id}/update", &["q:version"]).json("{}"),
        c("sw-secret-update-bad-body", "POST", "/secrets/s1/update?version=1", "POST /secrets/{id}/update", &["b:body"]).json("{"),
        c("sw-configs-filtered", "GET", &format!("/configs?filters={}", f(r#"{"name":["c1"]}"#)), "GET /configs", &["q:filters"]),
        c("sw-configs-bad-filters", "GET", "/configs?filters=nojson", "GET /configs", &["q:filters"]),
        c("sw-config-create", "POST", "/configs/create", "POST /configs/create", &["b:body"]).json(r#"{"Name":"c1","Data":"Y29uZmln"}"#),
        c("sw-config-create-bad-body", "POST", "/configs/create", "POST /configs/create", &["b:body"]).json("{"),
        c("sw-config-inspect", "GET", "/configs/c1", "GET /configs/{id}", &["p:id"]),
        c("sw-config-delete", "DELETE", "/configs/c1", "DELETE /configs/{id}", &["p:id"]),
        c("sw-config-update", "POST", "/configs/c1/update?version=4", "POST /configs/{id}/update", &["p:id", "q:version", "b:body"])
            .json(r#"{"Name":"c1","Labels":{"a":"c"}}"#),
        c("sw-config-update-bad-version", "POST", "/configs/c1/update?version=x", "POST /configs/{id}/update", &["q:version"]).json("{}"),
        c("sw-config-update-bad-body", "POST", "/configs/c1/update?version=1", "POST /configs/{id}/update", &["b:body"]).json("{"),
        // Plugins: none installed.
        c("pl-list-filtered", "GET", &format!("/plugins?filters={}", f(r#"{"capability":["volumedriver"],"enabled":["true"]}"#)), "GET /plugins", &["q:filters"]),
        c("pl-list-bad-filter", "GET", &format!("/plugins?filters={}", f(r#"{"nosuch":["x"]}"#)), "GET /plugins", &["q:filters"]),
        c("pl-list-bad-enabled", "GET", &format!("/plugins?filters={}", f(r#"{"enabled":["maybe"]}"#)), "GET /plugins", &["q:filters"]),
        c("pl-inspect", "GET", "/plugins/vieux/sshfs:latest/json", "GET /plugins/{name}/json", &["p:name"]),
        c("pl-inspect-short", "GET", "/plugins/sshfs/json", "GET /plugins/{name}/json", &["p:name"]),
        c("pl-delete", "DELETE", "/plugins/vieux/sshfs?force=1", "DELETE /plugins/{name}", &["p:name", "q:force"]),
        c("pl-delete-bad-force", "DELETE", "/plugins/sshfs?force=maybe", "DELETE /plugins/{name}", &["q:force"]),
        c("pl-enable", "POST", "/plugins/vieux/sshfs/enable?timeout=5", "POST /plugins/{name}/enable", &["p:name", "q:timeout"]),
        c("pl-disable", "POST", "/plugins/vieux/sshfs/disable?force=1", "POST /plugins/{name}/disable", &["p:name", "q:force"]),
        c("pl-disable-bad-force", "POST", "/plugins/sshfs/disable?force=maybe", "POST /plugins/{name}/disable", &["q:force"]),
        c("pl-set", "POST", "/plugins/vieux/sshfs/set", "POST /plugins/{name}/set", &["p:name", "b:body"]).json(r#"["DEBUG=1"]"#),
        c("pl-set-bad-body", "POST", "/plugins/sshfs/set", "POST /plugins/{name}/set", &["b:body"]).json("{"),
        c("pl-push", "POST", "/plugins/vieux/sshfs:1.0/push", "POST /plugins/{name}/push", &["p:name"]),
        c("pl-upgrade", "POST", "/plugins/vieux/sshfs/upgrade?remote=127.0.0.1:1/sshfs", "POST /plugins/{name}/upgrade", &["p:name", "q:remote", "b:body"])
            .json(r#"[{"Name":"network","Description":"","Value":["host"]}]"#),
        c("pl-upgrade-bad-body", "POST", "/plugins/sshfs/upgrade?remote=127.0.0.1:1/sshfs", "POST /plugins/{name}/upgrade", &["b:body"]).json("{"),
    ]
}
