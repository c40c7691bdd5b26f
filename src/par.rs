//! Work spread over threads that still gets done when no thread can be started.
//!
//! Under a process limit (`ulimit -u`, a container's pids cap) starting a thread fails, and
//! `std::thread::scope`'s `spawn` panics when it does. These helpers start what they can and
//! do the rest on the calling thread, so a limit makes dagrun slower, never abort.

use std::sync::Mutex;
use std::thread::{Builder, Scope, ScopedJoinHandle};

/// `f` of every item, in order, the first on the calling thread and each other one on a
/// thread of its own where one can be started. `None` is an item whose thread panicked (a bug):
/// the caller decides what stands in for it.
pub fn map<I: Sync, R: Send>(items: &[I], f: impl Fn(&I) -> R + Sync) -> Vec<Option<R>> {
    let Some((first, rest)) = items.split_first() else {
        return Vec::new();
    };
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<Option<ScopedJoinHandle<'_, R>>> =
            rest.iter().map(|item| start(scope, move || f(item))).collect();
        let mut out = Vec::with_capacity(items.len());
        out.push(Some(f(first)));
        for (item, handle) in rest.iter().zip(handles) {
            out.push(match handle {
                Some(h) => h.join().ok(),
                None => Some(f(item)),
            });
        }
        out
    })
}

/// `a` on a thread of its own beside `b` on the calling thread, or both here, one after the
/// other, when no thread can be started. `None` is an `a` that panicked (a bug).
pub fn both<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (Option<A>, B) {
    // The closure waits in a slot the thread takes it from: a thread that could not be
    // started leaves it there for this one.
    let slot = Mutex::new(Some(a));
    let slot = &slot;
    std::thread::scope(|scope| {
        let take = move || slot.lock().ok().and_then(|mut s| s.take());
        let handle = start(scope, move || take().map(|a| a()));
        let b = b();
        let a = match handle {
            Some(h) => h.join().ok().flatten(),
            None => take().map(|a| a()),
        };
        (a, b)
    })
}

fn start<'scope, R: Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    f: impl FnOnce() -> R + Send + 'scope,
) -> Option<ScopedJoinHandle<'scope, R>> {
    Builder::new().spawn_scoped(scope, f).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_the_order_of_the_items() {
        let items: Vec<u32> = (0..20).collect();
        let out = map(&items, |&i| i * 2);
        assert_eq!(out, (0..20).map(|i| Some(i * 2)).collect::<Vec<_>>());
        assert!(map(&[] as &[u32], |&i| i).is_empty());
    }

    #[test]
    fn both_returns_each_answer() {
        let (a, b) = both(|| 1, || "two");
        assert_eq!((a, b), (Some(1), "two"));
    }
}
