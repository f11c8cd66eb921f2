//! `docker import`: one root filesystem tarball (any supported compression) becomes a one-layer image.

use crate::changes::apply_changes;
use crate::compression::decompress;
use crate::config::{History, ImageConfig, RootFs};
use crate::layer::ingest_layer;
use crate::store::{now_rfc3339, ImageStore, LayerRecord};
use crate::ImageError;
use berth_types::Digest;
use std::io::Read;

/// What to import and how to describe it.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Dockerfile-style changes (`CMD ["sh"]`, `ENV A=1`, …).
    pub changes: Vec<String>,
    /// Commit message; Docker's default is `Imported from <source>`.
    pub message: Option<String>,
    /// Where the tarball came from (`-` for the request body, or a URL).
    pub source: String,
    /// Platform architecture override (`amd64`, `arm64`, …).
    pub architecture: Option<String>,
}

/// Imports a root filesystem tarball as a new image and returns its id.
pub fn import_rootfs<R: Read>(store: &ImageStore, reader: R, opts: &ImportOptions) -> Result<Digest, ImageError> {
    let mut container = Default::default();
    apply_changes(&mut container, &opts.changes)?;
    let (_, tar) = decompress(reader).map_err(ImageError::Read)?;
    let layer = ingest_layer(store.content(), tar)?;
    let created = now_rfc3339();
    let comment = opts.message.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| format!("Imported from {}", opts.source));
    let config = ImageConfig {
        created: Some(created.clone()),
        architecture: opts.architecture.clone().unwrap_or_else(|| crate::host_architecture().to_string()),
        os: "linux".into(),
        config: Some(container),
        rootfs: RootFs { kind: "layers".into(), diff_ids: vec![layer.diff_id.clone()] },
        history: vec![History { created: Some(created), comment: Some(comment.clone()), ..Default::default() }],
        comment: Some(comment),
        ..Default::default()
    };
    let bytes = serde_json::to_vec(&config).map_err(ImageError::BadConfig)?;
    let record = LayerRecord { diff_id: layer.diff_id, size: layer.size };
    let result = store.register(&bytes, vec![record.clone()], None);
    if result.is_err() && !store.referenced_blobs().contains(&record.diff_id) {
        let _ = store.content().delete(&record.diff_id);
    }
    Ok(result?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_content::ContentStore;
    use std::io::Write;

    #[test]
    fn gzip_rootfs_imports_with_changes() {
        let d = tempfile::tempdir().unwrap();
        let store = ImageStore::open(d.path().join("image"), ContentStore::open(d.path().join("c")).unwrap()).unwrap();
        let tar = crate::layer::tests::raw_tar(&[("bin/sh", tar::EntryType::Regular, "", b"#!")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let opts = ImportOptions { changes: vec!["CMD [\"/bin/sh\"]".into()], source: "-".into(), ..Default::default() };
        let id = import_rootfs(&store, &gz.finish().unwrap()[..], &opts).unwrap();
        let img = store.by_id(&id).unwrap();
        assert_eq!(img.layers[0].diff_id, Digest::of(&tar));
        assert_eq!(img.config.comment.as_deref(), Some("Imported from -"));
        assert_eq!(img.config.container_config().cmd.unwrap(), vec!["/bin/sh"]);
        assert_eq!(img.size(), 2);
    }

    #[test]
    fn hostile_import_leaves_store_empty() {
        let d = tempfile::tempdir().unwrap();
        let store = ImageStore::open(d.path().join("image"), ContentStore::open(d.path().join("c")).unwrap()).unwrap();
        let tar = crate::layer::tests::raw_tar(&[("../../etc/cron.d/x", tar::EntryType::Regular, "", b"x")]);
        assert!(import_rootfs(&store, &tar[..], &ImportOptions::default()).is_err());
        assert!(store.list().is_empty());
        assert!(store.content().list().unwrap().is_empty());
    }
}
