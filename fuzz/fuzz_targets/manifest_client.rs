//! What a pull reads from a registry (client side): the manifest or index, classified by content type
//! and shape, the platform choice in an index, layer media types, and the image config. Input: the
//! Content-Type line, then the body. A parsed document or config must re-serialise to one that parses
//! back equal (Berth writes what it parsed: configs it commits and builds, manifests it pushes).
#![no_main]

use berth_distribution::manifest::{choose, layer_compression, to_docker_json, Document, ImageManifest, Platform};
use berth_image::ImageConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(0);
    let (ct, body) = (String::from_utf8_lossy(&data[..split]), &data[(split + 1).min(data.len())..]);
    match Document::parse(&ct, body) {
        Ok(Document::Index(index)) => {
            for want in ["linux/amd64", "linux/arm64", "linux/arm/v7", "windows"] {
                let want = Platform::parse(want).expect("valid platform");
                if let Some(d) = choose(&index, &want) {
                    assert!(index.manifests.contains(d));
                }
            }
            for d in &index.manifests {
                if let Some(p) = &d.platform {
                    let _ = Platform::parse(&p.display());
                }
            }
        }
        Ok(Document::Image(m)) => {
            for l in &m.layers {
                let _ = layer_compression(&l.media_type);
            }
            let again = to_docker_json(&*m);
            let back: ImageManifest = serde_json::from_slice(&again).expect("a manifest Berth serialised parses");
            assert_eq!(back.layers, m.layers);
            assert_eq!(back.config, m.config);
        }
        Err(_) => {}
    }
    let _ = Platform::parse(&ct);
    if let Ok(c) = ImageConfig::parse(body) {
        let _ = (c.container_config(), c.created_unix());
        let again = serde_json::to_vec(&c).expect("serialise config");
        let back = ImageConfig::parse(&again).expect("a config Berth serialised parses");
        assert_eq!(back, c, "config round trip");
    }
});
