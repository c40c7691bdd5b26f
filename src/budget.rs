//! Budgets for rendering templates, enforced from outside minijinja.
//!
//! Memory: the global allocator of the `dagrun` binary counts what a thread allocates while a
//! `Scope` is open on it, and stops the process with a clear error (exit 3, invalid workflow)
//! when one render holds more than `LIMIT` bytes. minijinja bounds instructions (fuel) and the
//! output is checked after rendering, but a few instructions can build strings of any size
//! (`{% set s = s ~ s %}` thirty times, a macro that doubles its argument as it recurses): the
//! process would be killed by the kernel or abort with no word about the workflow long before
//! the output check runs.
//!
//! Time: a few instructions can also walk a sequence of 10^16 items that is never held in
//! memory (`-1 in [1] * 10**16`, `==` or `~` on one, an index far into one): minijinja spends no
//! fuel inside such a walk and nothing allocates. A watchdog thread looks at every thread with
//! an open `Scope` once a second and stops the process the same way when one render has gone on
//! for `DAGRUN_TEMPLATE_TIMEOUT` seconds (30 by default). It counts its own ticks rather than
//! reading a clock, so a process stopped with Ctrl-Z and continued later is not mistaken for a
//! slow render.
//!
//! Neither can return an error through minijinja (an allocator must not unwind, and another
//! thread cannot interrupt a render), so the only clean way out is to print the reason and
//! `_exit`. Nothing has run yet when a workflow is loaded; while a run expands a generator's
//! output, the state is as after a `kill -9` and resume continues.
//!
//! Outside a scope the allocator adds one thread-local read per allocation and nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// Most bytes one render may hold at once: far above what any rendered field (16 MiB at most)
/// or a `range()` up to the task limit needs.
pub const LIMIT: usize = 1 << 30;

/// Seconds one render may take unless `DAGRUN_TEMPLATE_TIMEOUT` says otherwise: fuel stops any
/// template that works an instruction at a time well within a second.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// Room for `FILE: task `NAME`` in the message.
const WHAT_BYTES: usize = 512;

thread_local! {
    /// Bytes allocated less bytes freed since the scope opened; `None` outside a scope.
    static USED: Cell<Option<isize>> = const { Cell::new(None) };
    /// This thread's entry in the watchdog's list, made the first time it names a render or
    /// opens a scope (never by the allocator: a scope is open only once the slot exists).
    static SLOT: Arc<Slot> = Slot::register();
}

/// What the watchdog sees of one thread. Only that thread writes it, so plain loads and stores
/// do: no locks, no read-modify-write.
struct Slot {
    /// Odd while a render is in progress; each render moves it on by two.
    generation: AtomicU64,
    /// What is being rendered, for the messages: `WHAT_BYTES` bytes in words, and their length
    /// (kept in place: the message cannot allocate).
    what: [AtomicU64; WHAT_BYTES / 8],
    what_len: AtomicUsize,
}

/// The threads that have rendered, for the watchdog; entries of threads that ended are dropped.
static SLOTS: Mutex<Vec<Weak<Slot>>> = Mutex::new(Vec::new());

impl Slot {
    fn register() -> Arc<Slot> {
        let slot = Arc::new(Slot {
            generation: AtomicU64::new(0),
            what: [const { AtomicU64::new(0) }; WHAT_BYTES / 8],
            what_len: AtomicUsize::new(0),
        });
        let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|s| s.strong_count() > 0);
        slots.push(Arc::downgrade(&slot));
        drop(slots);
        start_watchdog();
        slot
    }

    /// Moves the generation on by one (this thread is its only writer).
    fn step(&self) {
        let g = self.generation.load(Ordering::Relaxed);
        self.generation.store(g.wrapping_add(1), Ordering::Relaxed);
    }

    fn set_what(&self, parts: &[&str]) {
        let mut word = [0u8; 8];
        let mut len = 0;
        for b in parts.iter().flat_map(|p| p.bytes()).take(WHAT_BYTES) {
            word[len % 8] = b;
            len += 1;
            if len % 8 == 0 {
                self.what[len / 8 - 1].store(u64::from_ne_bytes(word), Ordering::Relaxed);
            }
        }
        if len % 8 != 0 {
            self.what[len / 8].store(u64::from_ne_bytes(word), Ordering::Relaxed);
        }
        self.what_len.store(len, Ordering::Relaxed);
    }

    fn what(&self) -> ([u8; WHAT_BYTES], usize) {
        let mut buf = [0u8; WHAT_BYTES];
        for (chunk, w) in buf.chunks_exact_mut(8).zip(&self.what) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        (buf, self.what_len.load(Ordering::Relaxed).min(WHAT_BYTES))
    }
}

/// Counts allocations while a `Scope` is open on the current thread.
pub struct Counting;

fn charge(delta: isize) {
    let _ = USED.try_with(|u| {
        if let Some(used) = u.get() {
            let used = used.saturating_add(delta);
            u.set(Some(used));
            if used > LIMIT as isize {
                u.set(None);
                stop(SLOT.try_with(|s| s.what()).ok(), MEMORY);
            }
        }
    });
}

const MEMORY: &[u8] = b"a template needs more than 1 GiB of memory to render (a string built up \
without end, doubled in a loop or by recursion?); the workflow is invalid\n";

/// Prints `error: WHAT: REASON` without allocating and ends the process with exit 3.
#[cold]
fn stop(what: Option<([u8; WHAT_BYTES], usize)>, reason: &[u8]) -> ! {
    let write = |b: &[u8]| {
        // SAFETY: write(2) allocates nothing and reads only `b`.
        unsafe { nix::libc::write(2, b.as_ptr().cast(), b.len()) };
    };
    write(b"error: ");
    if let Some((what, len)) = what.filter(|w| w.1 > 0) {
        write(&what[..len]);
        write(b": ");
    }
    write(reason);
    // SAFETY: _exit(2) ends the process at once, running nothing of this one.
    unsafe { nix::libc::_exit(crate::model::code::INVALID as i32) }
}

/// Names what the current thread renders next (`FILE: task `NAME``), for the messages.
pub fn naming(file: &str, task: Option<&str>) {
    let parts: [&str; 4] = match task {
        Some(t) => [file, ": task `", t, "`"],
        None => [file, "", "", ""],
    };
    let _ = SLOT.try_with(|s| s.set_what(&parts));
}

/// The render timeout in watchdog ticks (seconds), from `DAGRUN_TEMPLATE_TIMEOUT`.
fn timeout_ticks() -> u64 {
    std::env::var("DAGRUN_TEMPLATE_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
}

/// Starts the watchdog once per process.
fn start_watchdog() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let ticks = timeout_ticks();
        // Without the watchdog a hung render is only a hang, so failing to start it is not
        // worth refusing the workflow.
        let _ = std::thread::Builder::new().name("template-watchdog".into()).spawn(move || watch(ticks));
    });
}

/// Once a second, notes each thread's render generation; a thread seen in the same render on
/// `ticks` consecutive looks has gone on too long.
fn watch(ticks: u64) -> ! {
    // (slot, generation last seen, consecutive looks at that generation)
    let mut seen: Vec<(Weak<Slot>, u64, u64)> = Vec::new();
    let message = format!(
        "a template has been rendering for {ticks} s without finishing (a walk over a huge sequence, \
such as `x in [1] * 10**16`?; DAGRUN_TEMPLATE_TIMEOUT sets the limit); the workflow is invalid\n"
    );
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let slots: Vec<Weak<Slot>> = SLOTS.lock().unwrap_or_else(|e| e.into_inner()).clone();
        seen.retain(|(w, ..)| w.strong_count() > 0);
        for w in slots {
            let Some(slot) = w.upgrade() else { continue };
            let generation = slot.generation.load(Ordering::Relaxed);
            let entry = match seen.iter_mut().find(|(s, ..)| s.ptr_eq(&w)) {
                Some(e) => e,
                None => {
                    seen.push((w, u64::MAX, 0));
                    seen.last_mut().expect("just pushed")
                }
            };
            if generation % 2 == 1 && generation == entry.1 {
                entry.2 += 1;
                if entry.2 >= ticks {
                    stop(Some(slot.what()), message.as_bytes());
                }
            } else {
                entry.1 = generation;
                entry.2 = 0;
            }
        }
    }
}

// SAFETY: every call is passed to `System` unchanged; counting allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            charge(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            charge(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        charge(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            charge(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// While alive, the current thread's allocations count against `LIMIT` and the watchdog times
/// its render. Scopes do not nest: an inner scope simply continues the outer one's count.
pub struct Scope {
    outer: bool,
}

impl Scope {
    pub fn enter() -> Scope {
        let outer = USED.with(|u| u.get().is_some());
        if !outer {
            // Made before the count starts, so the allocator never makes a slot itself.
            let _ = SLOT.try_with(|s| s.step());
            USED.with(|u| u.set(Some(0)));
        }
        Scope { outer }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.outer {
            let _ = USED.try_with(|u| u.set(None));
            let _ = SLOT.try_with(|s| s.step());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_kept_whole_or_cut_at_the_limit() {
        let slot = Slot::register();
        for name in ["", "a", "abcdefgh", "abcdefghi", &"x".repeat(WHAT_BYTES + 9)] {
            slot.set_what(&["f.yaml", ": task `", name, "`"]);
            let (buf, len) = slot.what();
            let want = format!("f.yaml: task `{name}`");
            let want = &want.as_bytes()[..want.len().min(WHAT_BYTES)];
            assert_eq!(&buf[..len], want);
        }
    }
}
