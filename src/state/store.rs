//! The state file on disk: a snapshot (`state.json`, always a complete document, replaced by
//! rename) plus an append-only journal beside it (`state.json.journal`, one JSON line per task
//! transition) that loading replays. A transition costs one `write(2)`; the journal is folded
//! into a new snapshot when it grows past the number of tasks and at the end of a run, so
//! recording stays O(1) amortised per transition.
//!
//! The journal's first line names the snapshot epoch it extends. A crash between writing a new
//! snapshot and starting its journal leaves an old journal whose epoch does not match, and it
//! is ignored — its entries are already in the snapshot. A torn last line is ignored too.
//! Nothing is fsynced per transition: a killed process loses nothing the kernel accepted.

use super::model::{FORMAT_VERSION, GeneratorRecord, StateFile, TaskRecord};
use anyhow::{Context, Result, anyhow, bail};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub fn journal_path(state: &Path) -> PathBuf {
    with_suffix(state, ".journal")
}

pub fn lock_path(state: &Path) -> PathBuf {
    with_suffix(state, ".lock")
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[derive(Serialize, Deserialize)]
struct JournalHeader {
    dagrun_journal: u64,
}

#[derive(Serialize, Deserialize)]
struct JournalEntry<'a> {
    id: std::borrow::Cow<'a, str>,
    #[serde(flatten)]
    record: TaskRecord,
}

/// A generator's output, journalled when it adds tasks.
#[derive(Serialize, Deserialize)]
struct GeneratorEntry<'a> {
    generator: std::borrow::Cow<'a, str>,
    #[serde(flatten)]
    record: GeneratorRecord,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JournalLine<'a> {
    #[serde(borrow)]
    Task(JournalEntry<'a>),
    #[serde(borrow)]
    Generator(GeneratorEntry<'a>),
}

/// Fails unless `path` is an existing regular file (not a symbolic link): checked before a
/// lock is taken beside it, so a mistyped path leaves no stray lock file.
pub fn check(path: &Path) -> Result<()> {
    regular_file(path, false, "")
}

/// Fails if something other than a regular file is at `path` (a symbolic link, a directory):
/// `run` replaces the state file by renaming a new one over it, which would silently turn a
/// link into a file of its own, and writing through the link instead could overwrite whatever
/// it points to. Nothing there yet is fine.
pub fn check_replaceable(path: &Path) -> Result<()> {
    regular_file(path, true, " (give `--state` the path it points to)")
}

fn regular_file(path: &Path, missing_ok: bool, link_hint: &str) -> Result<()> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("state file `{shown}` does not exist"),
        Err(e) => bail!("cannot read state file `{shown}`: {e}"),
        Ok(m) if m.file_type().is_symlink() => bail!(
            "state file `{shown}` is a symbolic link; dagrun reads and replaces only regular files{link_hint}"
        ),
        Ok(m) if !m.is_file() => bail!("state file `{shown}` is not a regular file"),
        Ok(_) => Ok(()),
    }
}

/// Reads a state file and replays its journal. Every way this can fail is a clear message.
pub fn load(path: &Path) -> Result<StateFile> {
    check(path)?;
    let shown = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read state file `{shown}`"))?;
    let jpath = journal_path(path);
    let journal = match std::fs::read(&jpath) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow!("cannot read journal `{}`: {e}", jpath.display())),
    };
    from_bytes(path, &bytes, journal.as_deref())
}

/// Parses a state file's bytes and replays its journal's bytes (`None` when there is no
/// journal). `path` only names the files in messages; nothing is read from disk.
pub fn from_bytes(path: &Path, bytes: &[u8], journal: Option<&[u8]>) -> Result<StateFile> {
    let shown = path.display();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        bail!("state file `{shown}` is empty");
    }
    let mut state: StateFile = match serde_json::from_slice(bytes) {
        Ok(s) => s,
        Err(e) => return Err(explain(path, bytes, e)),
    };
    if state.format_version != FORMAT_VERSION {
        bail!(
            "state file `{shown}` has format version {}, which this dagrun cannot read (it reads version {FORMAT_VERSION})",
            state.format_version
        );
    }
    if let Some(journal) = journal {
        replay(&journal_path(path), journal, &mut state)?;
    }
    Ok(state)
}

/// Why a state file did not parse: another format version, another kind of JSON, or not JSON.
fn explain(path: &Path, bytes: &[u8], e: serde_json::Error) -> anyhow::Error {
    #[derive(Deserialize)]
    struct Probe {
        format_version: Option<serde_json::Value>,
    }
    let shown = path.display();
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe { format_version: Some(serde_json::Value::Number(v)) })
            if v.as_u64() != Some(FORMAT_VERSION as u64) =>
        {
            anyhow!(
                "state file `{shown}` has format version {v}, which this dagrun cannot read (it reads version {FORMAT_VERSION})"
            )
        }
        Ok(Probe { format_version: None }) => {
            anyhow!("`{shown}` is not a dagrun state file (no `format_version`)")
        }
        Ok(_) => anyhow!("state file `{shown}` is damaged: {e}"),
        Err(_) if e.is_eof() => anyhow!("state file `{shown}` is truncated: {e}"),
        Err(_) => anyhow!("`{shown}` is not a dagrun state file: {e}"),
    }
}

fn replay(jpath: &Path, bytes: &[u8], state: &mut StateFile) -> Result<()> {
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    let Some(first) = lines.next() else { return Ok(()) };
    match serde_json::from_slice::<JournalHeader>(first) {
        Ok(h) if h.dagrun_journal == state.run.epoch => {}
        // A journal of an older snapshot (already folded in), or torn before its header.
        _ => return Ok(()),
    }
    let mut n = 1;
    while let Some(line) = lines.next() {
        n += 1;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<JournalLine>(line) {
            Ok(JournalLine::Task(entry)) => {
                state.tasks.insert(entry.id.into_owned(), entry.record);
            }
            Ok(JournalLine::Generator(entry)) => {
                state.generators.insert(entry.generator.into_owned(), entry.record);
            }
            // The last line may be torn by a crash mid-write; any other bad line is damage.
            Err(_) if lines.peek().is_none_or(|l| l.is_empty()) => break,
            Err(e) => bail!("journal `{}` is damaged at line {n}: {e}", jpath.display()),
        }
    }
    Ok(())
}

/// Writes `state` as a complete document: temporary file, fsync, rename.
pub fn write_snapshot(path: &Path, state: &StateFile) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Created like any file (0666 less the umask), not 0600: the state is for people and tools.
    let tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in `{}`", dir.display()))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        serde_json::to_writer_pretty(&mut w, state).context("cannot serialise the state")?;
        w.write_all(b"\n")?;
        w.flush().with_context(|| format!("cannot write the state to `{}`", dir.display()))?;
    }
    tmp.as_file().sync_all().context("cannot sync the state file")?;
    tmp.persist(path).map_err(|e| anyhow!("cannot replace `{}`: {}", path.display(), e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An open journal for one snapshot epoch.
pub struct Journal {
    file: File,
    pub lines: usize,
    buf: Vec<u8>,
}

impl Journal {
    /// Starts a fresh journal for `epoch`, replacing any older one.
    pub fn create(state: &Path, epoch: u64) -> Result<Journal> {
        let jpath = journal_path(state);
        let mut file =
            crate::exec::no_follow(OpenOptions::new().create(true).write(true).truncate(true), &jpath)
                .with_context(|| format!("cannot create journal `{}`", jpath.display()))?;
        let mut header = serde_json::to_vec(&JournalHeader { dagrun_journal: epoch })?;
        header.push(b'\n');
        file.write_all(&header).with_context(|| format!("cannot write journal `{}`", jpath.display()))?;
        Ok(Journal { file, lines: 0, buf: Vec::with_capacity(512) })
    }

    /// Appends one transition with a single write, so a crash tears at most this line.
    pub fn append(&mut self, id: &str, record: &TaskRecord) -> Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &JournalEntry { id: id.into(), record: record.clone() })?;
        self.write_line()
    }

    /// Appends a generator's output (before any task it added can start).
    pub fn append_generator(&mut self, id: &str, record: &GeneratorRecord) -> Result<()> {
        self.buf.clear();
        serde_json::to_writer(
            &mut self.buf,
            &GeneratorEntry { generator: id.into(), record: record.clone() },
        )?;
        self.write_line()
    }

    fn write_line(&mut self) -> Result<()> {
        self.buf.push(b'\n');
        self.file.write_all(&self.buf).context("cannot append to the state journal")?;
        self.lines += 1;
        Ok(())
    }
}

pub fn remove_journal(state: &Path) {
    let _ = std::fs::remove_file(journal_path(state));
}

/// An exclusive hold on a state file for one process's lifetime (released by the kernel if the
/// process dies, so a crash never leaves a stale lock).
pub struct Lock {
    _flock: Flock<File>,
}

impl Lock {
    pub fn acquire(state: &Path) -> Result<Lock> {
        let lpath = lock_path(state);
        let file = crate::exec::no_follow(
            OpenOptions::new().create(true).truncate(false).read(true).write(true),
            &lpath,
        )
        .with_context(|| format!("cannot open lock file `{}`", lpath.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut f) => {
                f.set_len(0)?;
                writeln!(&mut *f, "{}", std::process::id())?;
                Ok(Lock { _flock: f })
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                let pid =
                    holder(state).map_or_else(|| "another process".to_owned(), |p| format!("process {p}"));
                bail!("state file `{}` is in use by a running dagrun ({pid})", state.display())
            }
            Err((_, e)) => bail!("cannot lock `{}`: {e}", lpath.display()),
        }
    }
}

/// The pid of the dagrun holding `state`, if one does.
pub fn holder(state: &Path) -> Option<u32> {
    let lpath = lock_path(state);
    let file = OpenOptions::new().read(true).write(true).open(&lpath).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_) => None,
        Err(_) => std::fs::read_to_string(&lpath).ok()?.trim().parse().ok(),
    }
}
