//! Image references and digests as the API, the CLI and manifests give them: parsing either fails or
//! yields a reference whose canonical and familiar forms parse back to the same reference.
#![no_main]

use berth_types::{Digest, Reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(r) = Reference::parse(s) {
        let canonical = r.to_string();
        assert_eq!(Reference::parse(&canonical).as_ref(), Ok(&r), "canonical form {canonical:?} of {s:?}");
        // Docker's familiar form is ambiguous for a Docker Hub path whose first component looks like
        // a registry (`docker.io/example.com/app` shows as `example.com/app`); Berth shows it as
        // Docker does, so only the unambiguous ones must round-trip.
        let first = r.path().split('/').next().unwrap_or("");
        // Likewise `library/<64 hex>` parses but its familiar form, a bare 64-hex name, is refused as
        // an image id would be (Docker's HexName rule applies to the text as given).
        let hex_name = r.familiar_name().len() == 64 && r.familiar_name().bytes().all(|b| b.is_ascii_hexdigit());
        let ambiguous = r.domain() == "docker.io" && (first.contains(['.', ':']) || first == "localhost" || hex_name);
        let familiar = r.familiar();
        if !ambiguous {
            assert_eq!(Reference::parse(&familiar).as_ref(), Ok(&r), "familiar form {familiar:?} of {s:?}");
        }
        assert_eq!(r.name(), format!("{}/{}", r.domain(), r.path()));
        let tagged = r.clone().with_default_tag();
        assert!(tagged.tag().is_some() || tagged.digest().is_some());
        if let Some(t) = r.tag() {
            assert_eq!(Reference::from_repo_tag(&r.name(), t).map(|x| x.tag().map(str::to_string)), Ok(Some(t.to_string())));
        }
    }
    let _ = Reference::parse_tagged(s);
    if let Some((repo, tag)) = s.split_once('\0') {
        let _ = Reference::from_repo_tag(repo, tag);
    }
    if let Ok(d) = s.parse::<Digest>() {
        assert_eq!(d.to_string().parse::<Digest>().as_ref(), Ok(&d));
        let _ = d.short();
    }
    let _ = Digest::from_hex(s);
});
