//! The metadata store: `metadata.json` (a checkpoint, replaced atomically) plus `metadata.journal`
//! (changes since the checkpoint, appended one line each and fsynced before they take effect).
//!
//! Rewriting the whole metadata file for every change made each `create`/`rm` of a container cost
//! a write and fsync of every snapshot's record (hundreds of kilobytes with a thousand containers,
//! under the lock every snapshot operation takes). A change now costs one appended line and one
//! `fdatasync`; the file is rewritten only when the journal has grown past the checkpoint's size
//! (so a change costs O(1) amortised).
//!
//! Crash safety: a change is applied in memory only after its line is on disk; lines are appended
//! one at a time under the metadata lock, so only the last can be torn by a crash, and a torn last
//! line (partial, or the zeros a filesystem may show after a crash) is ignored — its change was
//! never acknowledged. Each line carries a sequence number and the checkpoint records the last one
//! it includes, so a crash between writing a checkpoint and emptying the journal replays nothing
//! twice. A bad line followed by a good one, or a gap in the numbers, is corruption and refused.
//! A failed append is cut off again; if even that fails, the next change writes a checkpoint and
//! a fresh journal instead of appending after the damage.

use super::metadata::{Metadata, Record, VERSION};
use crate::SnapshotError;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Deref;
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

/// One journal line: the changes of one operation, applied together.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    seq: u64,
    next_id: u64,
    changes: Vec<Change>,
}

/// The metadata in memory and the files that persist it. Dereferences to the [`Metadata`]; change
/// it only through [`Store::commit`].
#[derive(Debug)]
pub(crate) struct Store {
    md: Metadata,
    checkpoint: PathBuf,
    journal_path: PathBuf,
    /// The journal, opened for appending (None until a checkpoint could make a fresh one).
    journal: Option<File>,
    /// Bytes in the journal.
    journal_len: u64,
    /// Size of the last checkpoint written.
    checkpoint_len: u64,
    /// The sequence number of the last change on disk.
    seq: u64,
}

impl Deref for Store {
    type Target = Metadata;
    fn deref(&self) -> &Metadata {
        &self.md
    }
}

impl Store {
    /// Loads `metadata.json` in `root` and replays `metadata.journal` over it, then writes a fresh
    /// checkpoint if the journal had anything (so every open starts with an empty journal).
    pub fn open(root: &Path) -> Result<Store, SnapshotError> {
        let checkpoint = root.join("metadata.json");
        let journal_path = root.join("metadata.journal");
        let (mut md, checkpoint_len) = Metadata::load(&checkpoint)?;
        let on_disk_version = md.version;
        let bytes = match fs::read(&journal_path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(SnapshotError::io("read", &journal_path)(e)),
        };
        let seq = replay(&mut md, &bytes, &journal_path)?;
        let mut store = Store { md, checkpoint, journal_path, journal: None, journal_len: 0, checkpoint_len, seq };
        if bytes.is_empty() && on_disk_version == VERSION && store.checkpoint.exists() {
            store.journal = Some(open_append(&store.journal_path)?);
        } else {
            store.write_checkpoint()?;
        }
        Ok(store)
    }

    /// Applies `changes` (and the new `next_id`) durably: on disk first, then in memory. On error
    /// nothing changed.
    pub fn commit(&mut self, next_id: u64, changes: Vec<Change>) -> Result<(), SnapshotError> {
        let seq = self.seq + 1;
        let compact = self.journal.is_none() || self.journal_len > MIN_COMPACT_BYTES.max(self.checkpoint_len);
        if compact {
            let undo = self.apply(next_id, changes);
            self.seq = seq;
            if let Err(e) = self.write_checkpoint() {
                self.seq = seq - 1;
                self.undo(undo);
                return Err(e);
            }
            return Ok(());
        }
        let entry = Entry { seq, next_id, changes };
        let mut line = serde_json::to_vec(&entry).map_err(|e| SnapshotError::io("encode", &self.journal_path)(io::Error::other(e)))?;
        line.push(b'\n');
        let file = self.journal.as_mut().expect("checked above");
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
        self.apply(entry.next_id, entry.changes);
        Ok(())
    }

    /// Applies changes in memory; returns what undoes them.
    fn apply(&mut self, next_id: u64, changes: Vec<Change>) -> (u64, Vec<(String, Option<Record>)>) {
        let old_next = self.md.next_id;
        self.md.next_id = self.md.next_id.max(next_id);
        let mut undo = Vec::with_capacity(changes.len());
        for c in changes {
            match c {
                Change::Put { key, record } => {
                    let old = self.md.snapshots.insert(key.clone(), record);
                    undo.push((key, old));
                }
                Change::Delete { key } => {
                    let old = self.md.snapshots.remove(&key);
                    undo.push((key, old));
                }
            }
        }
        (old_next, undo)
    }

    fn undo(&mut self, (next_id, undo): (u64, Vec<(String, Option<Record>)>)) {
        self.md.next_id = next_id;
        for (key, old) in undo.into_iter().rev() {
            match old {
                Some(r) => self.md.snapshots.insert(key, r),
                None => self.md.snapshots.remove(&key),
            };
        }
    }

    /// Writes the whole metadata (with the last sequence number) atomically, then replaces the
    /// journal with an empty one. A crash in between leaves journal lines the checkpoint already
    /// has: replay skips them by number.
    fn write_checkpoint(&mut self) -> Result<(), SnapshotError> {
        self.md.version = VERSION;
        self.md.journal_seq = self.seq;
        let bytes = serde_json::to_vec(&self.md).map_err(|e| SnapshotError::io("encode", &self.checkpoint)(io::Error::other(e)))?;
        berth_types::persist::atomic_write(&self.checkpoint, &bytes).map_err(SnapshotError::io("write", &self.checkpoint))?;
        self.checkpoint_len = bytes.len() as u64;
        self.journal = None;
        berth_types::persist::atomic_write(&self.journal_path, b"").map_err(SnapshotError::io("write", &self.journal_path))?;
        self.journal = Some(open_append(&self.journal_path)?);
        self.journal_len = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, SnapshotError> {
    OpenOptions::new().append(true).open(path).map_err(SnapshotError::io("open", path))
}

/// Applies the journal's complete, valid lines after the checkpoint's sequence number to `md`;
/// returns the last sequence number.
fn replay(md: &mut Metadata, bytes: &[u8], path: &Path) -> Result<u64, SnapshotError> {
    let mut seq = md.journal_seq;
    let corrupt = |line: usize, reason: String| SnapshotError::CorruptJournal { path: path.to_path_buf(), line, reason };
    let mut torn_at: Option<usize> = None;
    // A last segment without its newline is a torn append: never acknowledged, ignored.
    for (i, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
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
        if entry.seq <= seq {
            continue;
        }
        if entry.seq != seq + 1 {
            return Err(corrupt(i + 1, format!("sequence {} follows {seq}", entry.seq)));
        }
        seq = entry.seq;
        md.next_id = md.next_id.max(entry.next_id);
        for c in entry.changes {
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
    if let Some(line) = torn_at {
        tracing::warn!(path = %path.display(), line, "ignoring a torn last metadata journal entry (an interrupted change)");
    }
    Ok(seq)
}
