//! Group commit for the metadata journal: concurrent snapshot operations share one appended line
//! and one fsync instead of each holding the metadata lock across fsyncs of its own.
//!
//! An operation checks and plans its change under the lock against the *latest* state (what is on
//! disk plus every change queued or being written: [`View`]), queues it, and waits with the lock
//! released. The first waiter that finds no write under way becomes the leader: it takes every
//! queued change, writes them as one journal line (or a checkpoint) with the lock released, fsyncs
//! it (and, first, the `snapshots/` directory when the group created snapshot directories), then
//! applies the group to the metadata readers see and wakes the waiters. Changes that arrive during
//! that fsync form the next group. So N concurrent operations cost about two fsyncs, not N.
//!
//! What readers see ([`Shared`]'s `Deref`) is only what is on disk: no caller can learn of a
//! snapshot whose record a crash could still lose. An operation returns only after its group is on
//! disk. If a group's write fails, every operation in it fails, and so do the operations queued
//! behind it (they were checked against a state that now never happens); snapshot ids handed out
//! are never handed out again, so a failed create's directory cannot be mistaken for a later one's.

use super::journal::{apply, Change, Files};
use super::metadata::{Metadata, Record};
use crate::SnapshotError;
use std::collections::HashMap;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The metadata, its files and the queue of changes waiting for the disk.
#[derive(Debug)]
pub(crate) struct Group {
    shared: Mutex<Shared>,
    /// Signalled when a group's write ended (its waiters have their results).
    written: Condvar,
    /// The directory new snapshot directories are renamed into (fsynced before their records).
    snapshots_dir: PathBuf,
}

/// One queued operation's changes.
#[derive(Debug)]
struct Queued {
    ticket: u64,
    changes: Vec<Change>,
    /// It renamed a new directory into `snapshots/`, which must be on disk before its record.
    new_dir: bool,
}

/// What a failed group's waiters learn (the error is rebuilt for each of them).
#[derive(Debug, Clone)]
struct Failure {
    op: &'static str,
    path: PathBuf,
    kind: io::ErrorKind,
    message: String,
}

/// The state under the metadata lock.
#[derive(Debug)]
pub(crate) struct Shared {
    /// What is on disk: what readers see.
    md: Metadata,
    /// Changes queued or being written, by key: the ticket of the latest one and what it leaves.
    pending: HashMap<String, (u64, Option<Record>)>,
    /// The next snapshot id to hand out (ahead of `md.next_id` while creates are pending; never
    /// goes back, even when a group fails).
    next_id: u64,
    queue: Vec<Queued>,
    /// The files, or None while a leader writes them.
    files: Option<Files>,
    next_ticket: u64,
    /// Results of written groups, by ticket, until their waiters take them.
    results: HashMap<u64, Result<(), Failure>>,
}

/// A queued operation, to wait for with [`Group::wait`].
#[must_use = "an operation is durable only once waited for"]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl Deref for Shared {
    type Target = Metadata;
    fn deref(&self) -> &Metadata {
        &self.md
    }
}

/// The latest state (on disk plus pending), for checking and planning a change.
pub(crate) struct View<'a> {
    md: &'a Metadata,
    /// None: the state on disk only.
    pending: Option<&'a HashMap<String, (u64, Option<Record>)>>,
}

impl View<'_> {
    /// The record of `key`, counting pending changes.
    pub fn get(&self, key: &str) -> Option<&Record> {
        match self.pending.and_then(|p| p.get(key)) {
            Some((_, r)) => r.as_ref(),
            None => self.md.snapshots.get(key),
        }
    }

    /// How many snapshots (pending ones included) name `key` as parent.
    pub fn children(&self, key: &str) -> usize {
        self.records().filter(|r| r.parent.as_deref() == Some(key)).count()
    }

    /// The ids of every snapshot, pending ones included.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.records().map(|r| r.id)
    }

    fn records(&self) -> impl Iterator<Item = &Record> + '_ {
        let pending = self.pending;
        let on_disk = self.md.snapshots.iter().filter(move |(k, _)| !pending.is_some_and(|p| p.contains_key(*k))).map(|(_, r)| r);
        on_disk.chain(pending.into_iter().flat_map(|p| p.values().filter_map(|(_, r)| r.as_ref())))
    }
}

impl Shared {
    /// The latest state, pending changes included: what a change is checked against.
    pub fn view(&self) -> View<'_> {
        View { md: &self.md, pending: Some(&self.pending) }
    }

    /// The state on disk only, as a [`View`] (for code shared between readers and writers).
    pub fn durable(&self) -> View<'_> {
        View { md: &self.md, pending: None }
    }

    /// The id [`Self::reserve_id`] hands out next.
    pub fn peek_id(&self) -> u64 {
        self.next_id
    }

    /// Hands out a snapshot id, never to be handed out again.
    pub fn reserve_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Queues `changes` (checked against [`Self::view`]); they count in the view at once, and
    /// readers see them once on disk. `new_dir`: the operation renamed a new directory into
    /// `snapshots/`.
    pub fn submit(&mut self, changes: Vec<Change>, new_dir: bool) -> Ticket {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        for c in &changes {
            match c {
                Change::Put { key, record } => self.pending.insert(key.clone(), (ticket, Some(record.clone()))),
                Change::Delete { key } => self.pending.insert(key.clone(), (ticket, None)),
            };
        }
        self.queue.push(Queued { ticket, changes, new_dir });
        Ticket(ticket)
    }
}

impl Group {
    /// Opens the metadata files in `root` (see [`Files::open`]).
    pub fn open(root: &Path) -> Result<Group, SnapshotError> {
        let (md, files) = Files::open(root)?;
        let next_id = md.next_id;
        Ok(Group {
            shared: Mutex::new(Shared {
                md,
                pending: HashMap::new(),
                next_id,
                queue: Vec::new(),
                files: Some(files),
                next_ticket: 1,
                results: HashMap::new(),
            }),
            written: Condvar::new(),
            snapshots_dir: root.join("snapshots"),
        })
    }

    /// Locks the metadata.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        // What readers see changes only after a successful write, so a panicking holder cannot
        // have left it half-updated: recovering from poison is sound.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ticket`'s group is on disk (leading the write if nobody is), releasing the lock
    /// meanwhile. Returns with the lock released.
    pub fn wait<'a>(&'a self, mut g: MutexGuard<'a, Shared>, ticket: Ticket) -> Result<(), SnapshotError> {
        loop {
            if let Some(result) = g.results.remove(&ticket.0) {
                return result.map_err(|f| SnapshotError::io(f.op, f.path)(io::Error::new(f.kind, f.message)));
            }
            if g.files.is_some() && !g.queue.is_empty() {
                g = self.lead(g);
                continue;
            }
            g = self.written.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Writes every queued change as one group; returns with the lock held again.
    fn lead<'a>(&'a self, mut g: MutexGuard<'a, Shared>) -> MutexGuard<'a, Shared> {
        let mut files = g.files.take().expect("checked by the caller");
        let batch = std::mem::take(&mut g.queue);
        let next_id = g.next_id;
        let changes: Vec<Change> = batch.iter().flat_map(|q| q.changes.iter().cloned()).collect();
        let mut checkpoint = files.wants_checkpoint().then(|| {
            let mut md = g.md.clone();
            apply(&mut md, next_id, changes.iter().cloned());
            md
        });
        drop(g);
        let new_dirs = batch.iter().any(|q| q.new_dir);
        let outcome = if new_dirs { berth_types::persist::sync_dir(&self.snapshots_dir).map_err(SnapshotError::io("sync", &self.snapshots_dir)) } else { Ok(()) }
            .and_then(|()| files.persist(next_id, changes.clone(), checkpoint.as_mut()));
        let mut g = self.lock();
        g.files = Some(files);
        let last = batch.last().map_or(0, |q| q.ticket);
        match outcome {
            Ok(()) => {
                apply(&mut g.md, next_id, changes);
                g.pending.retain(|_, (t, _)| *t > last);
                for q in &batch {
                    g.results.insert(q.ticket, Ok(()));
                }
            }
            Err(e) => {
                let failure = failure_of(&e);
                // What was queued meanwhile was checked against this group's changes: it fails too.
                let behind = std::mem::take(&mut g.queue);
                for q in batch.iter().chain(&behind) {
                    g.results.insert(q.ticket, Err(failure.clone()));
                }
                g.pending.clear();
            }
        }
        self.written.notify_all();
        g
    }
}

fn failure_of(e: &SnapshotError) -> Failure {
    match e {
        SnapshotError::Io { op, path, source } => Failure { op, path: path.clone(), kind: source.kind(), message: source.to_string() },
        other => Failure { op: "write", path: PathBuf::new(), kind: io::ErrorKind::Other, message: other.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshotter::{Kind, Labels};
    use std::time::SystemTime;

    fn put(g: &mut Shared, key: &str, parent: Option<&str>) -> Ticket {
        let id = g.reserve_id();
        let record = Record { id, kind: Kind::Committed, parent: parent.map(String::from), created: SystemTime::now(), labels: Labels::new() };
        g.submit(vec![Change::Put { key: key.into(), record }], false)
    }

    #[test]
    fn changes_queued_together_share_one_line_and_readers_see_them_only_once_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let group = Group::open(dir.path()).unwrap();
        let mut g = group.lock();
        let a = put(&mut g, "a", None);
        let b = put(&mut g, "b", Some("a"));
        // Writers check against the latest state; readers see only what is on disk.
        assert_eq!(g.view().children("a"), 1);
        assert!(g.view().get("b").is_some());
        assert!(g.durable().get("b").is_none());
        group.wait(g, a).unwrap();
        // b's change went with a's: its result is there without another write.
        let g = group.lock();
        assert!(g.results.contains_key(&b.0));
        group.wait(g, b).unwrap();
        let journal = std::fs::read_to_string(dir.path().join("metadata.journal")).unwrap();
        assert_eq!(journal.lines().count(), 1, "{journal}");
        let g = group.lock();
        assert_eq!(g.snapshots.len(), 2);
        assert!(g.pending.is_empty());
        drop(g);
        drop(group);
        // Both are there after a reopen.
        let group = Group::open(dir.path()).unwrap();
        assert_eq!(group.lock().snapshots.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_failed_write_fails_its_group_and_what_queued_behind_it_and_ids_are_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let group = Group::open(dir.path()).unwrap();
        let mut g = group.lock();
        let a = put(&mut g, "a", None);
        // The snapshots directory fsynced before the line cannot be opened: the write fails.
        g.queue.last_mut().unwrap().new_dir = true;
        let b = put(&mut g, "b", None);
        group.wait(g, a).unwrap_err();
        group.wait(group.lock(), b).unwrap_err();
        let mut g = group.lock();
        assert!(g.view().get("a").is_none() && g.pending.is_empty() && g.snapshots.is_empty());
        assert_eq!(g.peek_id(), 3, "ids handed out are never handed out again");
        std::fs::create_dir(dir.path().join("snapshots")).unwrap();
        let c = put(&mut g, "c", None);
        group.wait(g, c).unwrap();
        drop(group);
        let group = Group::open(dir.path()).unwrap();
        assert_eq!(group.lock().snapshots.keys().collect::<Vec<_>>(), ["c"]);
    }
}
