//! Building layer tars byte by byte for tests, including entries no well-behaved tool would write.

use tar::{EntryType, Header};

/// A layer tar under construction. Names and link targets are written raw into the header, so
/// hostile paths (`../x`, `/abs`) can be produced; they must fit the 100-byte ustar fields.
pub struct LayerTar {
    builder: tar::Builder<Vec<u8>>,
}

/// Ownership and mode of an entry.
#[derive(Clone, Copy)]
pub struct Owner {
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
}

impl Owner {
    pub const fn root(mode: u32) -> Owner {
        Owner {
            uid: 0,
            gid: 0,
            mode,
        }
    }
}

pub const MTIME: u64 = 1_600_000_000;

impl LayerTar {
    pub fn new() -> LayerTar {
        LayerTar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn raw(
        &mut self,
        name: &str,
        kind: EntryType,
        owner: Owner,
        link: Option<&str>,
        data: &[u8],
        xattrs: &[(&str, &[u8])],
    ) -> &mut Self {
        if !xattrs.is_empty() {
            let mut records = Vec::new();
            for (k, v) in xattrs {
                records.extend(crate::apply::diff::pax_record(
                    &format!("SCHILY.xattr.{k}"),
                    v,
                ));
            }
            let mut h = Header::new_ustar();
            h.set_entry_type(EntryType::XHeader);
            h.set_size(records.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            self.builder.append(&h, records.as_slice()).unwrap();
        }
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_uid(owner.uid);
        h.set_gid(owner.gid);
        h.set_mode(owner.mode);
        h.set_mtime(MTIME);
        h.set_size(data.len() as u64);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        self.builder.append(&h, data).unwrap();
        self
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.raw(
            name,
            EntryType::Directory,
            Owner::root(mode),
            None,
            b"",
            &[],
        )
    }

    pub fn file(&mut self, name: &str, data: &str) -> &mut Self {
        self.raw(
            name,
            EntryType::Regular,
            Owner::root(0o644),
            None,
            data.as_bytes(),
            &[],
        )
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(
            name,
            EntryType::Symlink,
            Owner::root(0o777),
            Some(target),
            b"",
            &[],
        )
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(
            name,
            EntryType::Link,
            Owner::root(0o644),
            Some(target),
            b"",
            &[],
        )
    }

    pub fn device(
        &mut self,
        name: &str,
        kind: EntryType,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> &mut Self {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        self.builder.append(&h, &b""[..]).unwrap();
        self
    }

    pub fn bytes(&mut self) -> Vec<u8> {
        self.builder.finish().unwrap();
        self.builder.get_ref().clone()
    }
}
