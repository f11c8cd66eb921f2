use super::resolve::{display, ContainerPath, Root};
use super::*;
use std::os::unix::fs::symlink;

#[test]
fn rfc3339_nanos_matches_go_rfc3339nano() {
    assert_eq!(rfc3339_nanos(0, 0), "1970-01-01T00:00:00Z");
    assert_eq!(
        rfc3339_nanos(1_700_000_000, 123_000_000),
        "2023-11-14T22:13:20.123Z"
    );
    assert_eq!(
        rfc3339_nanos(951_782_400, 1),
        "2000-02-29T00:00:00.000000001Z"
    );
    assert_eq!(rfc3339_nanos(-1, 0), "1969-12-31T23:59:59Z");
    assert_eq!(rfc3339_nanos(4_102_444_800, 0), "2100-01-01T00:00:00Z");
}

#[test]
fn go_file_mode_sets_docker_type_bits() {
    assert_eq!(go_file_mode(0o100644), 0o644);
    assert_eq!(go_file_mode(0o040755), 0o755 | 1 << 31);
    assert_eq!(go_file_mode(0o120777), 0o777 | 1 << 27);
    assert_eq!(go_file_mode(0o020620), 0o620 | 1 << 26 | 1 << 21);
    assert_eq!(go_file_mode(0o060660), 0o660 | 1 << 26);
    assert_eq!(go_file_mode(0o010644), 0o644 | 1 << 25);
    assert_eq!(go_file_mode(0o140755), 0o755 | 1 << 24);
    assert_eq!(go_file_mode(0o104755), 0o755 | 1 << 23);
    assert_eq!(go_file_mode(0o102755), 0o755 | 1 << 22);
    assert_eq!(go_file_mode(0o041777), 0o777 | 1 << 31 | 1 << 20);
}

#[test]
fn container_paths_are_cleaned_like_docker() {
    let p = ContainerPath::parse("/a/../../b/./c/");
    assert_eq!(p.comps, ["b", "c"]);
    assert!(p.trailing && !p.contents);
    let p = ContainerPath::parse("b/c/.");
    assert_eq!(p.comps, ["b", "c"]);
    assert!(p.trailing && p.contents);
    let p = ContainerPath::parse("/");
    assert!(p.comps.is_empty() && p.contents);
    assert_eq!(p.base_name(), "/");
    let p = ContainerPath::parse("/etc/passwd");
    assert!(!p.trailing && !p.contents);
    assert_eq!(p.base_name(), "passwd");
}

#[test]
fn resolve_follows_symlinks_inside_the_root_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("real/sub")).unwrap();
    symlink("/", root.join("evil")).unwrap();
    symlink("../../../..", root.join("real/up")).unwrap();
    symlink("sub", root.join("real/rel")).unwrap();
    symlink("/real/rel/missing", root.join("abs")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    let r = Root::new(&root).unwrap();
    let resolve = |p: &str| display(&r.resolve(&ContainerPath::parse(p).comps));
    assert_eq!(resolve("/evil/real/rel"), "/real/sub");
    assert_eq!(resolve("/real/up/etc"), "/etc");
    assert_eq!(resolve("/abs/x"), "/real/sub/missing/x");
    assert_eq!(resolve("/evil"), "/");
    // A loop gives up after Go's 255 links instead of spinning.
    assert_eq!(resolve("/loop"), "/loop");
}

#[test]
fn errors_map_to_kinds_the_api_turns_into_statuses() {
    use berth_types::error::{ErrorKind, HasKind};
    assert_eq!(CopyError::NotFound("/x".into()).kind(), ErrorKind::NotFound);
    assert_eq!(
        CopyError::NotFound("/x".into()).to_string(),
        "Could not find the file /x in container"
    );
    assert_eq!(
        CopyError::NotADirectory("/x".into()).kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        CopyError::Refused("no".into()).kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn path_stat_serializes_with_docker_field_names() {
    let s = PathStat {
        name: "l".into(),
        size: 3,
        mode: 0o777 | 1 << 27,
        mtime: "2023-11-14T22:13:20Z".into(),
        link_target: "/etc".into(),
    };
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"name":"l","size":3,"mode":134218239u32,"mtime":"2023-11-14T22:13:20Z","linkTarget":"/etc"})
    );
    assert!(s.is_symlink() && !s.is_dir());
}

#[test]
fn a_path_with_a_nul_byte_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(stat(tmp.path(), "/a\0b"), Err(CopyError::Refused(_))));
}
