//! A memory budget for rendering templates: the global allocator of the `dagrun` binary counts
//! what a thread allocates while a `Scope` is open on it, and stops the process with a clear
//! error (exit 3, invalid workflow) when one render holds more than `LIMIT` bytes.
//!
//! minijinja bounds instructions (fuel) and the output is checked after rendering, but a few
//! instructions can build strings of any size (`{% set s = s ~ s %}` thirty times, a macro that
//! doubles its argument as it recurses): the process would be killed by the kernel or abort
//! with no word about the workflow long before the output check runs. An allocator cannot
//! return an error through minijinja, and must not unwind, so the only clean way out is to
//! print the reason and `_exit`. Nothing has run yet when a workflow is loaded; while a run
//! expands a generator's output, the state is as after a `kill -9` and resume continues.
//!
//! Outside a scope the allocator adds one thread-local read per allocation and nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Most bytes one render may hold at once: far above what any rendered field (16 MiB at most)
/// or a `range()` up to the task limit needs.
pub const LIMIT: usize = 1 << 30;

/// Room for `FILE: task `NAME`` in the message.
const WHAT_BYTES: usize = 512;

thread_local! {
    /// Bytes allocated less bytes freed since the scope opened; `None` outside a scope.
    static USED: Cell<Option<isize>> = const { Cell::new(None) };
    /// What is being rendered, for the message (kept in place: the message cannot allocate).
    static WHAT: Cell<([u8; WHAT_BYTES], usize)> = const { Cell::new(([0; WHAT_BYTES], 0)) };
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
                over();
            }
        }
    });
}

#[cold]
fn over() -> ! {
    const MSG: &[u8] = b"a template needs more than 1 GiB of memory to render (a string built up \
without end, doubled in a loop or by recursion?); the workflow is invalid\n";
    let (what, len) = WHAT.try_with(Cell::get).unwrap_or(([0; WHAT_BYTES], 0));
    let write = |b: &[u8]| {
        // SAFETY: write(2) allocates nothing and reads only `b`.
        unsafe { nix::libc::write(2, b.as_ptr().cast(), b.len()) };
    };
    write(b"error: ");
    if len > 0 {
        write(&what[..len]);
        write(b": ");
    }
    write(MSG);
    // SAFETY: _exit(2) ends the process at once, running nothing of this one.
    unsafe { nix::libc::_exit(crate::error::code::INVALID as i32) }
}

/// Names what the current thread renders next (`FILE: task `NAME``), for the message.
pub fn naming(file: &str, task: Option<&str>) {
    let mut buf = [0u8; WHAT_BYTES];
    let mut len = 0;
    let parts: [&str; 4] = match task {
        Some(t) => [file, ": task `", t, "`"],
        None => [file, "", "", ""],
    };
    for p in parts {
        let n = p.len().min(WHAT_BYTES - len);
        buf[len..len + n].copy_from_slice(&p.as_bytes()[..n]);
        len += n;
    }
    let _ = WHAT.try_with(|w| w.set((buf, len)));
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

/// While alive, the current thread's allocations count against `LIMIT`. Scopes do not nest:
/// an inner scope simply continues the outer one's count.
pub struct Scope {
    outer: bool,
}

impl Scope {
    pub fn enter() -> Scope {
        let outer = USED.with(|u| {
            let open = u.get().is_some();
            if !open {
                u.set(Some(0));
            }
            open
        });
        Scope { outer }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.outer {
            let _ = USED.try_with(|u| u.set(None));
        }
    }
}
