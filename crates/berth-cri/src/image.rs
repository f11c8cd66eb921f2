//! `ImageService` on Berth's image store. CRI and Docker share one image namespace: an image
//! `crictl pull`ed is in `docker images` and the other way round, as with dockershim and
//! cri-dockerd (and unlike containerd's `k8s.io` namespace). One store means one copy of each
//! layer on a node, and kubelet's image GC and `docker image prune` see the same images; what
//! CRI cannot remove (an image a Docker container runs) fails with a clear error instead of
//! vanishing under the other side.

use crate::error::{status, task, CriResult};
use crate::proto::image_service_server::ImageService;
use crate::proto::*;
use crate::Cri;
use berth_image::store::Image as StoredImage;
use std::collections::HashMap;
use tonic::{Request, Response};

/// The CRI view of a stored image.
fn to_cri(img: &StoredImage) -> Image {
    let user = img.config.config.as_ref().and_then(|c| c.user.clone()).unwrap_or_default();
    let user = user.split(':').next().unwrap_or_default().to_string();
    let (uid, username) = match user.parse::<i64>() {
        Ok(n) => (Some(Int64Value { value: n }), String::new()),
        Err(_) if user.is_empty() => (None, String::new()),
        Err(_) => (None, user),
    };
    Image {
        id: img.id.to_string(),
        repo_tags: img.tags.iter().map(ToString::to_string).collect(),
        repo_digests: img.digests.iter().map(ToString::to_string).collect(),
        size: img.size().max(1),
        uid,
        username,
        spec: Some(ImageSpec { image: img.id.to_string(), ..Default::default() }),
        pinned: false,
    }
}

impl Cri {
    /// The stored image a CRI image name (reference, id or short id) names, if any.
    pub(crate) fn find_image(&self, name: &str) -> Option<StoredImage> {
        if name.is_empty() {
            return None;
        }
        self.services.images.get(name).ok()
    }

    fn all_images(&self) -> Result<Vec<StoredImage>, tonic::Status> {
        let opts = berth_daemon::service::images::ListOptions { all: true, ..Default::default() };
        let list = self.services.images.list(&opts).map_err(status)?;
        Ok(list.iter().filter_map(|s| self.services.images.get(&s.id).ok()).collect())
    }
}

#[tonic::async_trait]
impl ImageService for Cri {
    async fn list_images(&self, req: Request<ListImagesRequest>) -> CriResult<ListImagesResponse> {
        let filter = req.into_inner().filter.and_then(|f| f.image).map(|i| i.image).unwrap_or_default();
        let cri = self.clone();
        let images = berth_types::sched::spawn_blocking(move || -> Result<Vec<Image>, tonic::Status> {
            if !filter.is_empty() {
                return Ok(cri.find_image(&filter).iter().map(to_cri).collect());
            }
            Ok(cri.all_images()?.iter().map(to_cri).collect())
        })
        .await
        .map_err(task)??;
        Ok(Response::new(ListImagesResponse { images }))
    }

    async fn image_status(&self, req: Request<ImageStatusRequest>) -> CriResult<ImageStatusResponse> {
        let req = req.into_inner();
        let name = req.image.map(|i| i.image).unwrap_or_default();
        let cri = self.clone();
        let img = berth_types::sched::spawn_blocking(move || cri.find_image(&name)).await.map_err(task)?;
        let mut info = HashMap::new();
        if req.verbose {
            if let Some(i) = &img {
                info.insert("info".into(), serde_json::json!({"imageSpec": &*i.config}).to_string());
            }
        }
        Ok(Response::new(ImageStatusResponse { image: img.as_ref().map(to_cri), info }))
    }

    async fn pull_image(&self, req: Request<PullImageRequest>) -> CriResult<PullImageResponse> {
        let deadline = crate::error::deadline(req.metadata());
        let req = req.into_inner();
        let name = req.image.map(|i| i.image).unwrap_or_default();
        if name.is_empty() {
            return Err(crate::error::invalid("image name is empty"));
        }
        let creds = crate::pull::credentials(req.auth.as_ref())?;
        let image_ref = crate::error::within(deadline, self.pull(&name, creds)).await?;
        Ok(Response::new(PullImageResponse { image_ref }))
    }

    async fn remove_image(&self, req: Request<RemoveImageRequest>) -> CriResult<RemoveImageResponse> {
        let name = req.into_inner().image.map(|i| i.image).unwrap_or_default();
        let cri = self.clone();
        berth_types::sched::spawn_blocking(move || -> Result<(), tonic::Status> {
            // Idempotent: an image that is not there is removed already.
            let Some(img) = cri.find_image(&name) else { return Ok(()) };
            let users = cri.services.containers.image_users();
            // By id and forced: every name of the image goes, as containerd's CRI removes them all.
            // A concurrent RemoveImage may have taken it meanwhile: removed is removed.
            match cri.services.images.delete(&img.id.to_string(), true, false, &users).map_err(status) {
                Err(e) if e.code() != tonic::Code::NotFound => Err(e),
                _ => Ok(()),
            }
        })
        .await
        .map_err(task)??;
        Ok(Response::new(RemoveImageResponse {}))
    }

    async fn image_fs_info(&self, _req: Request<ImageFsInfoRequest>) -> CriResult<ImageFsInfoResponse> {
        let root = self.services.system.root().to_path_buf();
        let used = self.services.images.layers_size();
        let inodes = berth_types::sched::spawn_blocking({
            let root = root.clone();
            move || nix::sys::statvfs::statvfs(&root.join("snapshots")).map(|s| s.files() - s.files_free()).unwrap_or(0)
        })
        .await
        .map_err(task)?;
        let usage = FilesystemUsage {
            timestamp: crate::runtime::now_nanos(),
            fs_id: Some(FilesystemIdentifier { mountpoint: root.join("snapshots").display().to_string() }),
            used_bytes: Some(UInt64Value { value: used }),
            inodes_used: Some(UInt64Value { value: inodes }),
        };
        Ok(Response::new(ImageFsInfoResponse { image_filesystems: vec![usage], container_filesystems: vec![] }))
    }
}
