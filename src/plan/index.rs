//! Task ids to task indices, for a million tasks: the table holds indices, not copies of the
//! ids, and an id short enough (most task names, many instance ids) is kept in its slot too, so
//! looking it up touches the table alone instead of also a task and its id far away in memory.

use crate::task::Task;
use std::hash::BuildHasher;

/// Ids up to this long are held in the slot itself.
const INLINE: usize = 11;

#[derive(Clone, Copy)]
struct Slot {
    task: u32,
    /// The id's length, or `LONG` when it is longer than `INLINE`.
    len: u8,
    /// The id's first bytes (all of it when short).
    head: [u8; INLINE],
}

const LONG: u8 = u8::MAX;

impl Slot {
    fn new(task: u32, id: &str) -> Slot {
        let b = id.as_bytes();
        let n = b.len().min(INLINE);
        let mut head = [0; INLINE];
        head[..n].copy_from_slice(&b[..n]);
        Slot { task, len: if b.len() <= INLINE { b.len() as u8 } else { LONG }, head }
    }

    fn is(&self, id: &str, tasks: &[Task]) -> bool {
        let b = id.as_bytes();
        if b.len() <= INLINE {
            self.len as usize == b.len() && self.head[..b.len()] == *b
        } else {
            self.len == LONG && self.head == b[..INLINE] && tasks[self.task as usize].id == id
        }
    }
}

#[derive(Clone, Default)]
pub(crate) struct IdIndex {
    table: hashbrown::HashTable<Slot>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for IdIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdIndex({} ids)", self.table.len())
    }
}

impl IdIndex {
    pub(crate) fn with_capacity(n: usize) -> Self {
        IdIndex { table: hashbrown::HashTable::with_capacity(n), hasher: Default::default() }
    }

    pub(crate) fn get(&self, tasks: &[Task], id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.table.find(hash, |s| s.is(id, tasks)).map(|s| s.task)
    }

    /// Adds task `i` under its id, or returns the task that already has that id.
    pub(crate) fn insert(&mut self, tasks: &[Task], i: u32) -> Result<(), u32> {
        let id = tasks[i as usize].id.as_str();
        let hasher = &self.hasher;
        match self.table.entry(
            hasher.hash_one(id),
            |s| s.is(id, tasks),
            |s| hasher.hash_one(tasks[s.task as usize].id.as_str()),
        ) {
            hashbrown::hash_table::Entry::Occupied(e) => Err(e.get().task),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Slot::new(i, id));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> Task {
        Task {
            id: id.to_owned(),
            base: id.into(),
            cmd: crate::task::Command::Shell("true".into()),
            env: Vec::new(),
            workdir: None,
            executor: "local".into(),
            retries: 0,
            retry_delay: std::time::Duration::ZERO,
            timeout: None,
            when: crate::task::When::Success,
            slots: 1,
            generator: false,
            description: None,
            priority: 0,
            depth: 0,
            files: None,
        }
    }

    #[test]
    fn finds_short_and_long_ids_and_refuses_duplicates() {
        let ids = ["", "a", "abcdefghijk", "abcdefghijkl", "abcdefghijkm", "abcdefghij", "x[i=1,j=22]"];
        let mut tasks: Vec<Task> = ids.iter().map(|id| task(id)).collect();
        let mut index = IdIndex::with_capacity(1);
        for i in 0..tasks.len() as u32 {
            assert_eq!(index.insert(&tasks, i), Ok(()));
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(index.get(&tasks, id), Some(i as u32), "{id:?}");
        }
        for id in ["b", "abcdefghijka", "abcdefghij\0", "abcdefghijkl ", "abcdefghi"] {
            assert_eq!(index.get(&tasks, id), None, "{id:?}");
        }
        tasks.push(task("abcdefghijkl"));
        tasks.push(task("a"));
        assert_eq!(index.insert(&tasks, 7), Err(3));
        assert_eq!(index.insert(&tasks, 8), Err(1));
    }
}
