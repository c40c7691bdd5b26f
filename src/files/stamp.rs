//! What is known of one file (`Stamp`, `FileRecord`) and of one task's files when it last
//! succeeded (`Fingerprint`), and the digest of a file's contents.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

/// What the file system says of a file without reading it. Unchanged, the contents are taken to
/// be unchanged (as git's index does); any change and the file is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime: i64,
    pub ino: u64,
    pub ctime: i64,
}

/// A file written this close to the moment it was stamped may be written again within the
/// same clock tick without its mtime moving: its stamp is not trusted next time (git calls
/// such entries racy). The kernel's file times advance in ticks of at most 10 ms. (Only the
/// mtime counts: a write now to a file with an older mtime moves it.)
const RACY_NS: i64 = 20_000_000;

impl Stamp {
    pub fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: m.len(),
            mtime: m.mtime().saturating_mul(1_000_000_000).saturating_add(m.mtime_nsec()),
            ino: m.ino(),
            ctime: m.ctime().saturating_mul(1_000_000_000).saturating_add(m.ctime_nsec()),
        }
    }

    /// Whether the file changed so recently before `now` that the stamp cannot vouch for it.
    pub fn racy(&self, now: SystemTime) -> bool {
        let now = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
        now.saturating_sub(self.mtime) < RACY_NS
    }
}

/// One input file as a task saw it: its path (as the task's directory names it), its stamp
/// (none: digest it again next time), and the digest of its contents (empty: it did not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RecordRow", into = "RecordRow")]
pub struct FileRecord {
    pub path: String,
    pub stamp: Option<Stamp>,
    pub digest: String,
}

impl FileRecord {
    pub fn exists(&self) -> bool {
        !self.digest.is_empty()
    }
}

/// A record as one JSON array, `[path, size, mtime, ino, ctime, digest]` (a stamp not to be
/// trusted is all zeros): a fingerprint file holds one per input of every task.
#[derive(Serialize, Deserialize)]
struct RecordRow(String, u64, i64, u64, i64, String);

impl From<RecordRow> for FileRecord {
    fn from(RecordRow(path, size, mtime, ino, ctime, digest): RecordRow) -> FileRecord {
        let stamp = (ino != 0 || mtime != 0).then_some(Stamp { size, mtime, ino, ctime });
        FileRecord { path, stamp, digest }
    }
}

impl From<FileRecord> for RecordRow {
    fn from(r: FileRecord) -> RecordRow {
        let s = r.stamp.unwrap_or(Stamp { size: 0, mtime: 0, ino: 0, ctime: 0 });
        RecordRow(r.path, s.size, s.mtime, s.ino, s.ctime, r.digest)
    }
}

/// What a task that declares outputs saw when it last succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub task: String,
    /// Its own definition hash (`plan::hash::own_hash`).
    pub def: String,
    /// The files its inputs matched, sorted by path.
    #[serde(default)]
    pub inputs: Vec<FileRecord>,
    #[serde(default)]
    pub outputs: Vec<String>,
}

/// The hex SHA-256 of the file at `path`, read in blocks (a file of any size in little memory).
pub fn digest_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let d = h.finalize();
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_compact_row_and_reads_back() {
        let r = FileRecord {
            path: "src/a.c".into(),
            stamp: Some(Stamp { size: 3, mtime: 5, ino: 7, ctime: 9 }),
            digest: "ab".into(),
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, r#"["src/a.c",3,5,7,9,"ab"]"#);
        assert_eq!(serde_json::from_str::<FileRecord>(&j).unwrap(), r);
        let untrusted = FileRecord { stamp: None, ..r };
        let j = serde_json::to_string(&untrusted).unwrap();
        assert_eq!(serde_json::from_str::<FileRecord>(&j).unwrap(), untrusted);
    }

    #[test]
    fn digests_stream_the_contents() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            digest_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
