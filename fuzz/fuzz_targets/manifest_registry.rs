//! What `berth registry` reads from a pushing client (server side): manifest validation, and the
//! tolerant readers GC and the referrers API run over stored manifests. Input: Content-Type line, body.
#![no_main]

use berth_registry::manifest::{bare_media_type, is_index_type, is_manifest_type, parse, references, subject_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(0);
    let (ct, body) = (String::from_utf8_lossy(&data[..split]), &data[(split + 1).min(data.len())..]);
    let ct = (!ct.is_empty()).then_some(ct.as_ref());
    if let Ok(m) = parse(body, ct) {
        assert!(is_manifest_type(&m.media_type), "accepted media type {:?}", m.media_type);
        if is_index_type(&m.media_type) {
            assert!(m.config.is_none() && m.layers.is_empty());
        } else {
            assert!(m.config.is_some() && m.manifests.is_empty());
        }
        // GC marks what a stored manifest references: everything validation accepted is found.
        let refs = references(body);
        for d in m.config.iter().chain(&m.layers).chain(&m.manifests) {
            assert!(refs.contains(&d.digest), "GC would miss {} of an accepted manifest", d.digest);
        }
        assert_eq!(subject_of(body), m.subject.as_ref().map(|s| s.digest.clone()));
    }
    let _ = references(body);
    let _ = subject_of(body);
    if let Some(ct) = ct {
        let _ = bare_media_type(ct);
    }
});
