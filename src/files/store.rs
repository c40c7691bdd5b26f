//! The fingerprint file beside a state (`state.json.files`): one JSON line per fingerprint,
//! appended as tasks succeed; a later line for a task replaces an earlier one. It is not the
//! state, so `run` (which starts a new state) still finds what earlier runs saw.
//!
//! A line is one `write(2)`, made before the state records the success it belongs to: a crash
//! in between leaves a fingerprint of a task that did succeed. A torn or unreadable line is
//! passed over (the task it was about simply runs). When most lines are stale the file is
//! rewritten whole, by rename.

use super::stamp::Fingerprint;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Fingerprints by task id.
pub type Fingerprints = HashMap<String, Fingerprint>;

pub fn path_for(state: &Path) -> PathBuf {
    let mut s = state.as_os_str().to_owned();
    s.push(".files");
    PathBuf::from(s)
}

/// What the file at `path` holds, and how many lines it has; nothing there is an empty set.
/// Never fails on what is in the file: a line that is not a fingerprint is passed over.
pub fn load(path: &Path) -> Result<(Fingerprints, usize)> {
    let bytes = match read_no_follow(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((HashMap::new(), 0)),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    // Parsed in pieces cut at line ends, one per core (a big project's file holds a line per
    // task), then taken in file order so that a later line still wins.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let pieces = if bytes.len() < 1 << 20 { 1 } else { threads };
    let mut cuts = vec![0];
    for k in 1..pieces {
        let at = (bytes.len() * k / pieces).max(*cuts.last().unwrap_or(&0));
        let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |n| at + n + 1);
        cuts.push(end);
    }
    cuts.push(bytes.len());
    let parse = |piece: &[u8]| {
        let mut lines = 0;
        let mut out = Vec::new();
        for line in piece.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines += 1;
            if let Ok(fp) = serde_json::from_slice::<Fingerprint>(line) {
                out.push(fp);
            }
        }
        (out, lines)
    };
    let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
    let parsed = crate::par::map(&pieces, |piece| parse(piece));
    let parsed: Vec<(Vec<Fingerprint>, usize)> = parsed.into_iter().map(Option::unwrap_or_default).collect();
    let mut map = HashMap::with_capacity(parsed.iter().map(|p| p.0.len()).sum());
    let mut lines = 0;
    for (fps, n) in parsed {
        lines += n;
        for fp in fps {
            map.insert(fp.task.clone(), fp);
        }
    }
    Ok((map, lines))
}

fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = crate::exec::no_follow(OpenOptions::new().read(true), path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut b = Vec::new();
    f.read_to_end(&mut b)?;
    Ok(b)
}

/// Appends fingerprints to the file, which is made when the first one comes.
pub struct Writer {
    file: Option<File>,
    path: PathBuf,
    buf: Vec<u8>,
}

impl Writer {
    /// A writer to the file at `path`, first rewriting the file with only `live` when it has
    /// grown to more than twice as many lines.
    pub fn new(path: &Path, live: &Fingerprints, lines: usize) -> Result<Writer> {
        if lines > 2 * live.len() + 1000 {
            rewrite(path, live)?;
        }
        Ok(Writer { file: None, path: path.to_path_buf(), buf: Vec::with_capacity(512) })
    }

    pub fn append(&mut self, fp: &Fingerprint) -> Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, fp)?;
        self.buf.push(b'\n');
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                crate::exec::no_follow(OpenOptions::new().create(true).append(true), &self.path)
                    .with_context(|| format!("cannot open `{}`", self.path.display()))?,
            ),
        };
        file.write_all(&self.buf).with_context(|| format!("cannot append to `{}`", self.path.display()))
    }
}

fn rewrite(path: &Path, live: &Fingerprints) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".files.")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in `{}`", dir.display()))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        let mut ids: Vec<&String> = live.keys().collect();
        ids.sort_unstable();
        for id in ids {
            serde_json::to_writer(&mut w, &live[id])?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| anyhow::anyhow!("cannot replace `{}`: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(task: &str, def: &str) -> Fingerprint {
        Fingerprint { task: task.into(), def: def.into(), inputs: vec![], outputs: vec!["o".into()] }
    }

    #[test]
    fn later_lines_win_and_torn_ones_are_passed_over() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json.files");
        let (none, n) = load(&p).unwrap();
        assert!(none.is_empty() && n == 0);
        let mut w = Writer::new(&p, &none, 0).unwrap();
        w.append(&fp("a", "1")).unwrap();
        w.append(&fp("b", "1")).unwrap();
        w.append(&fp("a", "2")).unwrap();
        drop(w);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"task\":\"c\",\"def\":\"1\",\"inp").unwrap();
        let (m, lines) = load(&p).unwrap();
        assert_eq!(lines, 4);
        assert_eq!(m.len(), 2);
        assert_eq!(m["a"].def, "2");
    }

    #[test]
    fn a_file_of_mostly_stale_lines_is_rewritten() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json.files");
        let mut w = Writer::new(&p, &HashMap::new(), 0).unwrap();
        for k in 0..1100 {
            w.append(&fp("a", &k.to_string())).unwrap();
        }
        drop(w);
        let (m, lines) = load(&p).unwrap();
        assert_eq!(lines, 1100);
        Writer::new(&p, &m, lines).unwrap();
        let (m2, lines) = load(&p).unwrap();
        assert_eq!((lines, &m2), (1, &m));
    }
}
