//! The metadata store: `metadata.json` (a checkpoint, replaced atomically) plus `metadata.journal`
//! (changes since the checkpoint, appended one line each and fsynced before they take effect).
//!
//! Rewriting the whole metadata file for every change made each `create`/`rm` of a container cost
//! a write and fsync of every snapshot's record (hundreds of kilobytes with a thousand containers,
//! under the lock every snapshot operation takes). A change now costs one appended line and one
//! `fdatasync`; the file is rewritten only when the journal has grown past the checkpoint's size
//! (so a change costs O(1) amortised).
//!
//! Crash safety: a change is applied to the metadata readers see only after its line is on disk.
//! Concurrent operations share lines and fsyncs (group commit, `super::group`): the changes of every
//! operation queued while the previous fsync ran go into ONE line, so a crash keeps all of a group or
//! none of it, and lines are appended one at a time by one writer, each fsynced before the next, so
//! only the last can be torn. A torn last line (partial, or the zeros a filesystem may show after a
//! crash) is ignored — none of its operations was acknowledged. Each line carries a sequence number
//! and the checkpoint records the last one it includes, so a crash between writing a checkpoint and
//! emptying the journal replays nothing twice. A bad line followed by a good one, or a gap in the
//! numbers, is corruption and refused. A failed append is cut off again; if even that fails, the
//! next group writes a checkpoint and a fresh journal instead of appending after the damage.

use super::metadata::{Metadata, Record, VERSION};
use crate::SnapshotError;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The journal is rewritten into the checkpoint once it is larger than this or than the checkpoint.
const MIN_COMPACT_BYTES: u64 = 256 * 1024;

/// One change to the metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum Change {
    /// Adds or replaces the record of `key`.
    Put { key: String, record: Record },
    /// Removes `key`.
    Delete { key: String },
}

/// One journal line: the changes of one group of operations, applied together.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    seq: u64,
    next_id: u64,
    changes: Vec<Change>,
}

/// The files that persist the metadata, and where the journal stands. Only one thread writes
/// them at a time (the group's leader, see `super::group`).
#[derive(Debug)]
pub(crate) struct Files {
    checkpoint: PathBuf,
    journal_path: PathBuf,
    /// The journal, opened for appending (None until a checkpoint could make a fresh one).
    journal: Option<File>,
    /// Bytes in the journal.
    journal_len: u64,
    /// Size of the last checkpoint written.
    checkpoint_len: u64,
    /// The sequence number of the last line on disk.
    seq: u64,
}

impl Files {
    /// Loads `metadata.json` in `root` and replays `metadata.journal` over it, then writes a fresh
    /// checkpoint if the journal had anything (so every open starts with an empty journal).
    pub fn open(root: &Path) -> Result<(Metadata, Files), SnapshotError> {
        let checkpoint = root.join("metadata.json");
        let journal_path = root.join("metadata.journal");
        let (mut md, checkpoint_len) = Metadata::load(&checkpoint)?;
        let on_disk_version = md.version;
        let bytes = match fs::read(&journal_path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(SnapshotError::io("read", &journal_path)(e)),
        };
        let (seq, valid_len) = replay(&mut md, &bytes, &journal_path)?;
        let mut files = Files { checkpoint, journal_path, journal: None, journal_len: 0, checkpoint_len, seq };
        if bytes.is_empty() && on_disk_version == VERSION && files.checkpoint.exists() {
            files.journal = Some(open_append(&files.journal_path)?);
        } else {
            md.journal_seq = seq;
            if let Err(e) = files.write_checkpoint(&mut md) {
                // A full disk must not keep the daemon from starting: a checkpoint of this version
                // and its journal are a complete state, so the journal stays, its torn tail cut off
                // (shrinking needs no space), and the next change appends to it.
                if on_disk_version != VERSION || !files.checkpoint.exists() {
                    return Err(e);
                }
                tracing::warn!(error = %e, "cannot write a fresh metadata checkpoint; going on with the journal");
                let cut = OpenOptions::new().write(true).open(&files.journal_path).and_then(|f| f.set_len(valid_len).and_then(|()| f.sync_data()));
                cut.map_err(SnapshotError::io("truncate", &files.journal_path))?;
                files.journal = Some(open_append(&files.journal_path)?);
                files.journal_len = valid_len;
            }
        }
        Ok((md, files))
    }

    /// Whether the next write must be a checkpoint (the journal outgrew the checkpoint, or a failed
    /// append left it unusable) rather than an appended line.
    pub fn wants_checkpoint(&self) -> bool {
        self.journal.is_none() || self.journal_len > MIN_COMPACT_BYTES.max(self.checkpoint_len)
    }

    /// Persists `changes` (one group's, in order) as one journal line, fsynced: a crash leaves all
    /// of them or none. `checkpoint` is the metadata with them applied when [`Self::wants_checkpoint`]
    /// said so: then it is written whole instead. On error nothing is on disk (a partly written line
    /// is cut off again, or the next write is a checkpoint).
    pub fn persist(&mut self, next_id: u64, changes: Vec<Change>, checkpoint: Option<&mut Metadata>) -> Result<(), SnapshotError> {
        let seq = self.seq + 1;
        if let Some(md) = checkpoint {
            md.journal_seq = seq;
            self.write_checkpoint(md)?;
            self.seq = seq;
            return Ok(());
        }
        let entry = Entry { seq, next_id, changes };
        let mut line = serde_json::to_vec(&entry).map_err(|e| SnapshotError::io("encode", &self.journal_path)(io::Error::other(e)))?;
        line.push(b'\n');
        let Some(file) = self.journal.as_mut() else {
            return Err(SnapshotError::io("append to", &self.journal_path)(io::Error::other("no journal open")));
        };
        let written = file.write_all(&line).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Cut the line off again; if that fails too, the next change starts a fresh journal.
            if file.set_len(self.journal_len).and_then(|()| file.sync_data()).is_err() {
                self.journal = None;
            }
            return Err(SnapshotError::io("append to", &self.journal_path)(e));
        }
        self.journal_len += line.len() as u64;
        self.seq = seq;
        Ok(())
    }

    /// Writes the whole metadata (whose `journal_seq` the caller set) atomically, then replaces the
    /// journal with an empty one. A crash in between leaves journal lines the checkpoint already
    /// has: replay skips them by number.
    fn write_checkpoint(&mut self, md: &mut Metadata) -> Result<(), SnapshotError> {
        md.version = VERSION;
        let bytes = serde_json::to_vec(&md).map_err(|e| SnapshotError::io("encode", &self.checkpoint)(io::Error::other(e)))?;
        berth_types::persist::atomic_write(&self.checkpoint, &bytes).map_err(SnapshotError::io("write", &self.checkpoint))?;
        self.checkpoint_len = bytes.len() as u64;
        self.journal = None;
        berth_types::persist::atomic_write(&self.journal_path, b"").map_err(SnapshotError::io("write", &self.journal_path))?;
        self.journal = Some(open_append(&self.journal_path)?);
        self.journal_len = 0;
        Ok(())
    }
}

/// Applies `changes` to `md`.
pub(crate) fn apply(md: &mut Metadata, next_id: u64, changes: impl IntoIterator<Item = Change>) {
    md.next_id = md.next_id.max(next_id);
    for c in changes {
        match c {
            Change::Put { key, record } => {
                md.snapshots.insert(key, record);
            }
            Change::Delete { key } => {
                md.snapshots.remove(&key);
            }
        }
    }
}

fn open_append(path: &Path) -> Result<File, SnapshotError> {
    OpenOptions::new().append(true).open(path).map_err(SnapshotError::io("open", path))
}

/// Applies the journal's complete, valid lines after the checkpoint's sequence number to `md`;
/// returns the last sequence number.
/// Replays the journal's `bytes` over `md`; answers the last sequence number and the length of the
/// journal's readable lines (what follows is a torn append).
fn replay(md: &mut Metadata, bytes: &[u8], path: &Path) -> Result<(u64, u64), SnapshotError> {
    let mut seq = md.journal_seq;
    let (mut offset, mut valid_len) = (0usize, 0usize);
    let corrupt = |line: usize, reason: String| SnapshotError::CorruptJournal { path: path.to_path_buf(), line, reason };
    let mut torn_at: Option<usize> = None;
    // A last segment without its newline is a torn append: never acknowledged, ignored.
    for (i, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        offset += line.len();
        let Some(line) = line.strip_suffix(b"\n") else { break };
        let entry: Entry = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(_) => {
                torn_at.get_or_insert(i + 1);
                continue;
            }
        };
        if let Some(bad) = torn_at {
            return Err(corrupt(bad, format!("unreadable line followed by valid line {}", i + 1)));
        }
        valid_len = offset;
        if entry.seq <= seq {
            continue;
        }
        if entry.seq != seq + 1 {
            return Err(corrupt(i + 1, format!("sequence {} follows {seq}", entry.seq)));
        }
        seq = entry.seq;
        apply(md, entry.next_id, entry.changes);
    }
    if let Some(line) = torn_at {
        tracing::warn!(path = %path.display(), line, "ignoring a torn last metadata journal entry (an interrupted change)");
    }
    Ok((seq, valid_len as u64))
}
