//! The in-memory driver, for tests: a sorted map from path to bytes.

use super::{check_path, ByteReader, ByteWriter, FileInfo, StorageDriver};
use crate::errors::StorageError;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::SystemTime;
use tokio::io::AsyncWrite;

#[derive(Debug)]
struct Entry {
    data: Vec<u8>,
    modified: SystemTime,
}

type Map = BTreeMap<String, Entry>;

/// Keeps every path in a process-local map; clones share the same map.
#[derive(Debug, Clone, Default)]
pub struct MemDriver {
    map: Arc<Mutex<Map>>,
}

impl MemDriver {
    /// An empty store.
    pub fn new() -> MemDriver {
        MemDriver::default()
    }

    fn lock(&self) -> MutexGuard<'_, Map> {
        // A poisoned map only means a test panicked mid-operation; the data is still usable.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn not_found(path: &str) -> StorageError {
    StorageError::NotFound { path: path.to_string() }
}

fn children<'a>(map: &'a Map, path: &str) -> impl Iterator<Item = (&'a String, &'a Entry)> {
    let prefix = if path.is_empty() { String::new() } else { format!("{path}/") };
    map.range(prefix.clone()..).take_while(move |(k, _)| k.starts_with(&prefix))
}

/// Collects the bytes and inserts them whole at shutdown; dropped earlier, it stores nothing.
struct MemWriter {
    map: Arc<Mutex<Map>>,
    path: String,
    data: Vec<u8>,
}

impl AsyncWrite for MemWriter {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.data.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let data = std::mem::take(&mut self.data);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(self.path.clone(), Entry { data, modified: SystemTime::now() });
        Poll::Ready(Ok(()))
    }
}

impl StorageDriver for MemDriver {
    async fn get_content(&self, path: &str) -> Result<Bytes, StorageError> {
        check_path(path, false)?;
        let map = self.lock();
        map.get(path).map(|e| Bytes::from(e.data.clone())).ok_or_else(|| not_found(path))
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<(), StorageError> {
        check_path(path, false)?;
        self.lock().insert(path.to_string(), Entry { data: content.to_vec(), modified: SystemTime::now() });
        Ok(())
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteReader, StorageError> {
        check_path(path, false)?;
        let map = self.lock();
        let e = map.get(path).ok_or_else(|| not_found(path))?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(e.data.len());
        Ok(Box::pin(io::Cursor::new(e.data[start..].to_vec())))
    }

    async fn writer(&self, path: &str) -> Result<ByteWriter, StorageError> {
        check_path(path, false)?;
        Ok(Box::pin(MemWriter { map: self.map.clone(), path: path.to_string(), data: Vec::new() }))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo, StorageError> {
        check_path(path, true)?;
        let map = self.lock();
        if let Some(e) = map.get(path) {
            return Ok(FileInfo { size: e.data.len() as u64, modified: e.modified, is_dir: false });
        }
        let newest = children(&map, path).map(|(_, e)| e.modified).max();
        match newest {
            Some(modified) => Ok(FileInfo { size: 0, modified, is_dir: true }),
            None if path.is_empty() => Ok(FileInfo { size: 0, modified: SystemTime::now(), is_dir: true }),
            None => Err(not_found(path)),
        }
    }

    async fn list(&self, path: &str) -> Result<Vec<String>, StorageError> {
        check_path(path, true)?;
        let map = self.lock();
        let skip = if path.is_empty() { 0 } else { path.len() + 1 };
        let mut names: Vec<String> = Vec::new();
        for (k, _) in children(&map, path) {
            let rest = &k[skip..];
            let name = rest.split('/').next().unwrap_or(rest);
            if names.last().map(String::as_str) != Some(name) {
                names.push(name.to_string());
            }
        }
        if names.is_empty() && !path.is_empty() {
            return Err(not_found(path));
        }
        names.dedup();
        Ok(names)
    }

    async fn move_to(&self, from: &str, to: &str) -> Result<(), StorageError> {
        check_path(from, false)?;
        check_path(to, false)?;
        let mut map = self.lock();
        let mut e = map.remove(from).ok_or_else(|| not_found(from))?;
        e.modified = SystemTime::now();
        map.insert(to.to_string(), e);
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        check_path(path, false)?;
        let mut map = self.lock();
        let mut doomed: Vec<String> = children(&map, path).map(|(k, _)| k.clone()).collect();
        if map.contains_key(path) {
            doomed.push(path.to_string());
        }
        if doomed.is_empty() {
            return Err(not_found(path));
        }
        for k in doomed {
            map.remove(&k);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mem_driver_passes_the_shared_suite() {
        crate::storage::suite::run(MemDriver::new()).await;
    }
}
