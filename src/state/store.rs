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
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub fn journal_path(state: &Path) -> PathBuf {
    with_suffix(state, ".journal")
}

/// The trace beside the state (`state.json.trace`, see `state::trace`).
pub fn trace_path(state: &Path) -> PathBuf {
    with_suffix(state, ".trace")
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

#[derive(Deserialize)]
struct JournalEntry<'a> {
    id: std::borrow::Cow<'a, str>,
    #[serde(flatten)]
    record: TaskRecord,
}

/// A journal line as written: the same shape, borrowing the record.
#[derive(Serialize)]
struct JournalOut<'a> {
    id: &'a str,
    #[serde(flatten)]
    record: &'a TaskRecord,
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
    let bytes = read_regular(path)
        .with_context(|| format!("cannot read state file `{shown}`"))?
        .ok_or_else(|| anyhow!("state file `{shown}` does not exist"))?;
    let jpath = journal_path(path);
    let journal =
        read_regular(&jpath).with_context(|| format!("cannot read journal `{}`", jpath.display()))?;
    from_bytes(path, &bytes, journal.as_deref())
}

/// A state in brief: what a `run` needs of the state it replaces (how many tasks were left
/// unfinished, how long each took) and what `history` lists.
#[derive(Debug, Default)]
pub struct Summary {
    pub unfinished: usize,
    pub durations: Vec<(String, u64)>,
    /// Tasks by status (`pending`, `succeeded`, ...).
    pub counts: std::collections::BTreeMap<&'static str, usize>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub outcome: Option<String>,
    pub elapsed_secs: f64,
}

/// Reads the state at `path` in brief, without building its tasks' records: a fraction of
/// `load`'s time and memory for a big state. `None` when there is none or it cannot be read.
pub fn summary(path: &Path) -> Option<Summary> {
    #[derive(Deserialize)]
    struct Brief {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        status: Option<crate::model::Status>,
        #[serde(default)]
        skip: Option<crate::model::SkipReason>,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        duration_ms: Option<u64>,
    }
    #[derive(Deserialize, Default)]
    struct Run {
        #[serde(default)]
        epoch: u64,
        #[serde(default)]
        started_at: Option<String>,
        #[serde(default)]
        finished_at: Option<String>,
        #[serde(default)]
        outcome: Option<String>,
        #[serde(default)]
        elapsed_secs: f64,
    }
    #[derive(Deserialize)]
    struct Snapshot {
        #[serde(default)]
        run: Option<Run>,
        #[serde(default)]
        tasks: std::collections::HashMap<String, Brief>,
    }
    check(path).ok()?;
    let snap: Snapshot = serde_json::from_slice(&read_regular(path).ok()??).ok()?;
    let run = snap.run.unwrap_or_default();
    let epoch = run.epoch;
    let mut tasks = snap.tasks;
    if let Ok(Some(journal)) = read_regular(&journal_path(path)) {
        let mut lines = journal.split(|&b| b == b'\n');
        let current = lines
            .next()
            .and_then(|l| serde_json::from_slice::<JournalHeader>(l).ok())
            .is_some_and(|h| h.dagrun_journal == epoch);
        // Lines of generators have no `id`; a torn or damaged line is left out.
        for b in lines.filter(|_| current).filter_map(|l| serde_json::from_slice::<Brief>(l).ok()) {
            if let Some(id) = b.id.clone() {
                tasks.insert(id, b);
            }
        }
    }
    use crate::model::Status;
    let mut counts = std::collections::BTreeMap::new();
    let mut unfinished = 0;
    for b in tasks.values() {
        let status = b.status.unwrap_or(Status::Pending);
        *counts.entry(status.as_str()).or_default() += 1;
        let not_needed = super::model::not_needed(status, b.skip, b.reason.as_deref());
        unfinished += usize::from(status != Status::Succeeded && !not_needed);
    }
    let durations = tasks.into_iter().filter_map(|(id, b)| Some((id, b.duration_ms?))).collect();
    Some(Summary {
        unfinished,
        durations,
        counts,
        started_at: run.started_at,
        finished_at: run.finished_at,
        outcome: run.outcome,
        elapsed_secs: run.elapsed_secs,
    })
}

/// The bytes of the regular file at `path`, or `None` if nothing is there. Anything else (a
/// FIFO that would block, a link to `/dev/zero` that never ends, a directory) is refused
/// without reading, and no more than the size the file had when opened is read.
fn read_regular(path: &Path) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            bail!("it is a symbolic link, and dagrun reads only regular files here")
        }
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        bail!("it is not a regular file");
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).min(1 << 30));
    file.take(meta.len()).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
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
    check_numbers(path, &state)?;
    Ok(state)
}

/// Most attempts a task may have recorded: far beyond any real retry count, far below where
/// counting on would wrap.
pub const MAX_ATTEMPTS: u32 = 1_000_000;
/// Largest snapshot epoch: dagrun's own are nanoseconds since 1970 (below 2^61 until 2043).
const MAX_EPOCH: u64 = 1 << 62;
/// Longest running time a state may record (about 3,000 years).
const MAX_ELAPSED_SECS: f64 = 1e11;

/// Numbers dagrun counts on from must leave room to count: a hostile or damaged value is a
/// state error, never an overflow or a panic later.
fn check_numbers(path: &Path, state: &StateFile) -> Result<()> {
    let shown = path.display();
    let e = state.run.elapsed_secs;
    if !(0.0..=MAX_ELAPSED_SECS).contains(&e) {
        bail!("state file `{shown}` is damaged: `run.elapsed_secs` is {e}, not a running time");
    }
    if state.run.epoch > MAX_EPOCH {
        bail!("state file `{shown}` is damaged: `run.epoch` {} is out of range", state.run.epoch);
    }
    if state.run.runs > MAX_ATTEMPTS {
        bail!("state file `{shown}` is damaged: `run.runs` {} is out of range", state.run.runs);
    }
    if let Some((id, r)) = state.tasks.iter().find(|(_, r)| r.attempts > MAX_ATTEMPTS) {
        bail!(
            "state file `{shown}` is damaged: task `{}` records {} attempts (at most {MAX_ATTEMPTS})",
            crate::diag::printable(id),
            r.attempts
        );
    }
    Ok(())
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

const TEMP_SUFFIX: &str = ".dagrun-tmp";

/// A snapshot's temporary file is `.<state file name>.<random>.dagrun-tmp` beside it: named
/// after the state file, so that the run holding its lock knows which leftovers are its own.
fn temp_affixes(path: &Path) -> (String, &'static str) {
    let name = path.file_name().map_or_else(|| "state".into(), |n| n.to_string_lossy());
    // Room for the random part and the suffix within a file name's 255 bytes.
    let head: String = name
        .chars()
        .scan(0, |n, c| {
            *n += c.len_utf8();
            (*n <= 120).then_some(c)
        })
        .collect();
    (format!(".{head}."), TEMP_SUFFIX)
}

/// Removes the temporary files of snapshots that a killed dagrun was writing for the state at
/// `path`. Only the holder of the state's lock may call it: no other process writes them.
pub fn remove_stale_temps(path: &Path) {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let (prefix, suffix) = temp_affixes(path);
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with(&prefix)
            && name.ends_with(suffix)
            && name.len() > prefix.len() + suffix.len()
            && !name[prefix.len()..name.len() - suffix.len()].contains('.');
        if ours && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes `state` as a complete document: temporary file, fsync, rename.
pub fn write_snapshot(path: &Path, state: &StateFile) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Created like any file (0666 less the umask), not 0600: the state is for people and tools.
    let (prefix, suffix) = temp_affixes(path);
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(suffix)
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
    /// Lines not written yet (`append_later`), written before the next line that must be.
    later: Vec<u8>,
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
        Ok(Journal { file, lines: 0, buf: Vec::with_capacity(512), later: Vec::new() })
    }

    /// Appends one transition with a single write, so a crash tears at most this line.
    pub fn append(&mut self, id: &str, record: &TaskRecord) -> Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &JournalOut { id, record })?;
        self.write_line()
    }

    /// Appends a transition that may be lost in a crash without harm (a task found up to
    /// date, which the next run finds up to date again): it is written with the next line
    /// that must be, or when 64 KiB of them wait, so that 100,000 of them are not 100,000
    /// writes.
    pub fn append_later(&mut self, id: &str, record: &TaskRecord) -> Result<()> {
        serde_json::to_writer(&mut self.later, &JournalOut { id, record })?;
        self.later.push(b'\n');
        self.lines += 1;
        if self.later.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the lines `append_later` kept.
    pub fn flush(&mut self) -> Result<()> {
        if !self.later.is_empty() {
            self.file.write_all(&self.later).context("cannot append to the state journal")?;
            self.later.clear();
        }
        Ok(())
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
        if !self.later.is_empty() {
            // In order, in one write.
            self.later.extend_from_slice(&self.buf);
            std::mem::swap(&mut self.later, &mut self.buf);
            self.later.clear();
        }
        self.file.write_all(&self.buf).context("cannot append to the state journal")?;
        self.lines += 1;
        Ok(())
    }
}

pub fn remove_journal(state: &Path) {
    let _ = std::fs::remove_file(journal_path(state));
}

/// An exclusive hold on a state file for one process's lifetime, released by the kernel when
/// the process dies, so a crash never leaves a stale lock. It is an open-file-description lock
/// (`F_OFD_SETLK`) because those can be *asked about* without taking them (`F_OFD_GETLK`): a
/// reader such as `status` learns whether a run holds the state without ever holding a lock
/// that a `run` starting at that moment would be refused by.
pub struct Lock {
    _file: File,
}

fn whole_file_lock(kind: i32) -> nix::libc::flock {
    // SAFETY: `flock` is a plain C struct for which all zeroes is a valid value.
    let mut l: nix::libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind as i16;
    l.l_whence = nix::libc::SEEK_SET as i16;
    l
}

/// How long a contender waits for the holder's pid to appear in the lock file: the holder
/// writes it right after taking the lock, so this only covers that instant.
const PID_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Lock {
    pub fn acquire(state: &Path) -> Result<Lock> {
        use std::os::fd::AsRawFd;
        let lpath = lock_path(state);
        let mut file = crate::exec::no_follow(
            OpenOptions::new().create(true).truncate(false).read(true).write(true),
            &lpath,
        )
        .with_context(|| format!("cannot open lock file `{}`", lpath.display()))?;
        let l = whole_file_lock(nix::libc::F_WRLCK);
        match nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_OFD_SETLK(&l)) {
            Ok(_) => {
                file.set_len(0)?;
                writeln!(file, "{}", std::process::id())?;
                Ok(Lock { _file: file })
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => match wait_for_pid(&lpath) {
                Some(pid) => {
                    bail!("state file `{}` is in use by a running dagrun (process {pid})", state.display())
                }
                None => bail!(
                    "state file `{}` is in use by another process, which holds `{}` without naming itself",
                    state.display(),
                    lpath.display()
                ),
            },
            Err(e) => bail!("cannot lock `{}`: {e}", lpath.display()),
        }
    }
}

fn read_pid(lpath: &Path) -> Option<u32> {
    let bytes = read_regular(lpath).ok()??;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

/// The pid of the dagrun holding `state`, if one does. Takes no lock.
pub fn holder(state: &Path) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let lpath = lock_path(state);
    let file = crate::exec::no_follow(OpenOptions::new().read(true), &lpath).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut l = whole_file_lock(nix::libc::F_WRLCK);
    nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_OFD_GETLK(&mut l)).ok()?;
    if l.l_type == nix::libc::F_UNLCK as i16 {
        return None;
    }
    wait_for_pid(&lpath)
}

/// The pid in a lock file that is held: its holder writes it right after taking the lock, so
/// an empty file is waited for, up to `PID_WAIT`.
fn wait_for_pid(lpath: &Path) -> Option<u32> {
    let waited = std::time::Instant::now();
    loop {
        if let Some(pid) = read_pid(lpath) {
            return Some(pid);
        }
        if waited.elapsed() > PID_WAIT {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_state_is_read_briefly_with_its_journal() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("state.json");
        std::fs::write(
            &path,
            r#"{"run":{"epoch":7},"tasks":{"a":{"status":"succeeded","duration_ms":5},"b":{"status":"pending"},
            "c":{"status":"skipped","skip":"condition_not_met"}}}"#,
        )
        .unwrap();
        let journal = journal_path(&path);
        std::fs::write(
            &journal,
            "{\"dagrun_journal\":7}\n{\"id\":\"b\",\"status\":\"succeeded\",\"duration_ms\":9}\n{\"id\":\"x",
        )
        .unwrap();
        let p = summary(&path).unwrap();
        let mut durations = p.durations;
        durations.sort();
        assert_eq!((p.unfinished, durations), (0, vec![("a".into(), 5), ("b".into(), 9)]));
        // A journal of another snapshot is already in it: ignored.
        std::fs::write(&journal, "{\"dagrun_journal\":6}\n{\"id\":\"b\",\"status\":\"succeeded\"}\n")
            .unwrap();
        assert_eq!(summary(&path).unwrap().unfinished, 1);
        std::fs::write(&path, "not json").unwrap();
        assert!(summary(&path).is_none());
    }

    #[test]
    fn asking_who_holds_a_state_never_makes_a_writer_fail() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let asked = std::sync::Arc::new(AtomicU32::new(0));
        let asker = {
            let (state, stop, asked) = (state.clone(), stop.clone(), asked.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let _ = holder(&state);
                    asked.fetch_add(1, Relaxed);
                }
            })
        };
        // Lock and unlock until the asker has asked many times meanwhile, however the two
        // threads are scheduled.
        let mut locked = 0;
        while locked < 2000 || asked.load(Relaxed) < 200 {
            let lock = Lock::acquire(&state).expect("a reader never holds the lock");
            assert_eq!(holder(&state), Some(std::process::id()));
            drop(lock);
            locked += 1;
        }
        stop.store(true, Relaxed);
        asker.join().unwrap();
        assert_eq!(holder(&state), None);
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let _first = Lock::acquire(&state).unwrap();
        // OFD locks conflict between open file descriptions, even in one process.
        let err = Lock::acquire(&state).err().expect("refused").to_string();
        assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
    }
}
