//! Unpacking an image's layers into a chain of committed snapshots named by OCI ChainIDs.
//!
//! Each layer becomes one committed snapshot named `chain_id(diff_ids[..=n])`, so images sharing a
//! prefix of layers share those snapshots and a second unpack of the same image does nothing.

use crate::apply::{apply_layer, ApplyError};
use crate::snapshotter::{Kind, Labels, Snapshotter};
use crate::SnapshotError;
use berth_types::error::{ErrorKind, HasKind};
use berth_types::Digest;
use std::io::{self, Read};

/// Opens one layer's uncompressed tar stream; called at most once per layer, only if it is needed.
pub type LayerOpener<'a> = Box<dyn Fn() -> io::Result<Box<dyn Read>> + 'a>;

/// Label set on the temporary active snapshot, naming the chain id it is being extracted for.
pub const UNPACK_LABEL: &str = "berth.io/unpacking";

/// The OCI ChainID of a stack of layers (image spec, "Layer ChainID"):
/// `chain(L1) = diffid1`, `chain(Ln) = sha256(chain(Ln-1) + " " + diffid_n)`.
///
/// # Panics
/// Never; an empty slice yields the digest of the empty string, which is no layer's chain id.
pub fn chain_id(diff_ids: &[Digest]) -> Digest {
    let mut iter = diff_ids.iter();
    let Some(first) = iter.next() else {
        return Digest::of(b"");
    };
    iter.fold(first.clone(), |chain, diff| {
        Digest::of(format!("{chain} {diff}").as_bytes())
    })
}

/// Why layers could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The image has no layers.
    #[error("no layers to unpack")]
    NoLayers,
    /// A snapshot operation failed.
    #[error("snapshot for layer {diff_id}")]
    Snapshot {
        /// The layer's diff id.
        diff_id: Digest,
        /// The underlying error.
        #[source]
        source: SnapshotError,
    },
    /// The layer's stream could not be opened.
    #[error("open layer {diff_id}")]
    Open {
        /// The layer's diff id.
        diff_id: Digest,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Applying the layer failed.
    #[error("apply layer {diff_id}")]
    Apply {
        /// The layer's diff id.
        diff_id: Digest,
        /// The underlying error.
        #[source]
        source: ApplyError,
    },
}

impl HasKind for UnpackError {
    fn kind(&self) -> ErrorKind {
        match self {
            UnpackError::NoLayers => ErrorKind::InvalidArgument,
            UnpackError::Snapshot { source, .. } => source.kind(),
            UnpackError::Open { .. } => ErrorKind::Internal,
            UnpackError::Apply { source, .. } => source.kind(),
        }
    }
}

/// Unpacks `layers` (diff id, opener; bottom layer first) into committed snapshots and returns the key
/// of the top one (the image's chain id as a string), to be used as the parent of a container's
/// `prepare`.
///
/// A layer whose chain id is already committed is skipped without opening it. Otherwise it is
/// applied into a temporary active snapshot that is committed under the chain id; if another unpacker
/// committed that name first, the temporary snapshot is removed and the other's is used, so concurrent
/// unpacks of one image both succeed. The diff id is NOT verified here: callers stream from a store
/// that verified the blob, or wrap the reader to check it.
pub fn unpack_layers(
    snap: &dyn Snapshotter,
    layers: &[(Digest, LayerOpener<'_>)],
) -> Result<String, UnpackError> {
    let mut diff_ids = Vec::with_capacity(layers.len());
    let mut parent: Option<String> = None;
    for (diff_id, open) in layers {
        diff_ids.push(diff_id.clone());
        let name = chain_id(&diff_ids).to_string();
        let snap_err = |source| UnpackError::Snapshot {
            diff_id: diff_id.clone(),
            source,
        };
        match snap.stat(&name) {
            Ok(info) if info.kind == Kind::Committed => {
                tracing::debug!(snapshot = %name, "layer already unpacked");
                parent = Some(name);
                continue;
            }
            // A key equal to a chain id but not committed is not ours to reuse.
            Ok(info) => {
                return Err(snap_err(SnapshotError::WrongKind {
                    key: name,
                    actual: info.kind.as_str(),
                    expected: Kind::Committed.as_str(),
                }))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(snap_err(e)),
        }
        let key = format!("extract-{}-{name}", &berth_types::random_id()[..12]);
        let labels = Labels::from([(UNPACK_LABEL.to_string(), name.clone())]);
        snap.prepare(&key, parent.as_deref(), labels)
            .map_err(snap_err)?;
        match extract_and_commit(snap, &key, &name, diff_id, open) {
            Ok(()) => tracing::info!(snapshot = %name, layer = %diff_id, "layer unpacked"),
            Err(UnpackError::Snapshot {
                source: SnapshotError::AlreadyExists { .. },
                ..
            }) => {
                tracing::debug!(snapshot = %name, "layer unpacked concurrently by another caller");
                discard(snap, &key);
            }
            Err(e) => {
                discard(snap, &key);
                return Err(e);
            }
        }
        parent = Some(name);
    }
    parent.ok_or(UnpackError::NoLayers)
}

fn extract_and_commit(
    snap: &dyn Snapshotter,
    key: &str,
    name: &str,
    diff_id: &Digest,
    open: &LayerOpener<'_>,
) -> Result<(), UnpackError> {
    let snap_err = |source| UnpackError::Snapshot {
        diff_id: diff_id.clone(),
        source,
    };
    let upper = snap.upper_dir(key).map_err(snap_err)?;
    let reader = open().map_err(|source| UnpackError::Open {
        diff_id: diff_id.clone(),
        source,
    })?;
    apply_layer(&upper, reader).map_err(|source| UnpackError::Apply {
        diff_id: diff_id.clone(),
        source,
    })?;
    snap.commit(name, key).map_err(snap_err)
}

/// Removes a temporary snapshot; failure only leaves a labelled active snapshot for garbage collection,
/// so it is logged, not returned (the caller is already returning the error that matters).
fn discard(snap: &dyn Snapshotter, key: &str) {
    if let Err(error) = snap.remove(key) {
        tracing::warn!(snapshot = key, %error, "could not remove temporary unpack snapshot");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::LayerTar;
    use crate::testsuite::{tree, MountGuard};
    use crate::OverlaySnapshotter;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn image() -> Vec<(Digest, Vec<u8>)> {
        let l1 = LayerTar::new()
            .file("etc/os-release", "v1")
            .file("a/x", "x")
            .file("b/y", "y")
            .file("bin/sh", "sh")
            .bytes();
        let l2 = LayerTar::new()
            .file("a/.wh.x", "")
            .dir("b/", 0o755)
            .file("b/.wh..wh..opq", "")
            .file("b/z", "z")
            .bytes();
        let l3 = LayerTar::new()
            .file("etc/os-release", "v3")
            .file("new", "n")
            .bytes();
        [l1, l2, l3]
            .into_iter()
            .map(|l| (Digest::of(&l), l))
            .collect()
    }

    /// Openers that count how often a layer is actually read.
    fn openers<'a>(
        image: &'a [(Digest, Vec<u8>)],
        opened: &'a AtomicUsize,
    ) -> Vec<(Digest, LayerOpener<'a>)> {
        image
            .iter()
            .map(|(d, bytes)| {
                let open: LayerOpener<'a> = Box::new(move || {
                    opened.fetch_add(1, Ordering::SeqCst);
                    Ok(Box::new(io::Cursor::new(bytes.clone())) as Box<dyn Read>)
                });
                (d.clone(), open)
            })
            .collect()
    }

    #[test]
    fn three_layers_merge_into_the_expected_tree_and_reunpack_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let snap = OverlaySnapshotter::open(dir.path().join("root")).unwrap();
        let image = image();
        let opened = AtomicUsize::new(0);
        let top = unpack_layers(&snap, &openers(&image, &opened)).unwrap();
        let diff_ids: Vec<Digest> = image.iter().map(|(d, _)| d.clone()).collect();
        assert_eq!(top, chain_id(&diff_ids).to_string());
        assert_eq!(opened.load(Ordering::SeqCst), 3);
        let before = snap.list().unwrap();
        assert_eq!(before.len(), 3);
        assert!(before.iter().all(|i| i.kind == Kind::Committed));
        assert_eq!(
            snap.stat(&top).unwrap().parent,
            Some(chain_id(&diff_ids[..2]).to_string())
        );

        let again = unpack_layers(&snap, &openers(&image, &opened)).unwrap();
        assert_eq!(again, top);
        assert_eq!(opened.load(Ordering::SeqCst), 3, "no layer reopened");
        assert_eq!(snap.list().unwrap(), before);

        let mounts = snap.prepare("ctr", Some(&top), Labels::new()).unwrap();
        let target = dir.path().join("rootfs");
        fs_create(&target);
        let _g = MountGuard::mount(&mounts, &target).unwrap();
        assert_eq!(
            tree(&target),
            [
                "a",
                "b",
                "b/z",
                "bin",
                "bin/sh",
                "etc",
                "etc/os-release",
                "new"
            ]
        );
        assert_eq!(
            std::fs::read_to_string(target.join("etc/os-release")).unwrap(),
            "v3"
        );
    }

    fn fs_create(p: &std::path::Path) {
        std::fs::create_dir(p).unwrap();
    }

    #[test]
    fn concurrent_unpacks_of_one_image_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let snap = Arc::new(OverlaySnapshotter::open(dir.path().join("root")).unwrap());
        let image = image();
        let tops: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let snap = Arc::clone(&snap);
                    let image = &image;
                    s.spawn(move || {
                        let opened = AtomicUsize::new(0);
                        let top = unpack_layers(snap.as_ref(), &openers(image, &opened)).unwrap();
                        top
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(tops.windows(2).all(|w| w[0] == w[1]));
        let list = snap.list().unwrap();
        assert_eq!(list.len(), 3, "temporary snapshots removed: {list:?}");
    }

    #[test]
    fn a_failing_layer_leaves_no_temporary_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let snap = OverlaySnapshotter::open(dir.path().join("root")).unwrap();
        let mut image = image();
        let evil = LayerTar::new().file("../evil", "x").bytes();
        image.insert(1, (Digest::of(&evil), evil));
        let opened = AtomicUsize::new(0);
        let err = unpack_layers(&snap, &openers(&image, &opened)).unwrap_err();
        assert!(matches!(err, UnpackError::Apply { .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let names: Vec<_> = snap.list().unwrap().into_iter().map(|i| i.name).collect();
        assert_eq!(
            names,
            [image[0].0.to_string()],
            "only the first layer committed"
        );
        assert!(matches!(
            unpack_layers(&snap, &[]),
            Err(UnpackError::NoLayers)
        ));
    }

    #[test]
    fn chain_id_of_one_layer_is_its_diff_id_and_then_hashes_pairs() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(chain_id(std::slice::from_ref(&a)), a);
        let expected = Digest::of(format!("{a} {b}").as_bytes());
        assert_eq!(chain_id(&[a.clone(), b.clone()]), expected);
        let c = Digest::of(b"c");
        assert_eq!(
            chain_id(&[a, b, c.clone()]),
            Digest::of(format!("{expected} {c}").as_bytes())
        );
    }
}
