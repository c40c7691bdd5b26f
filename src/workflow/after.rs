//! The rendered `after` entries of every task, stored flat: one string and two offset lists for
//! the whole workflow instead of a vector per task and a string per entry, which matters for
//! million-task workflows (three allocations in all, and a fraction of the memory).

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct AfterLists {
    /// Every entry, one after another.
    text: String,
    /// Where each entry ends in `text` (it starts where the one before ends).
    ends: Vec<usize>,
    /// Task `i`'s entries are `ends[tasks[i]..tasks[i + 1]]`; one item more than tasks.
    tasks: Vec<usize>,
}

impl Default for AfterLists {
    fn default() -> Self {
        AfterLists { text: String::new(), ends: Vec::new(), tasks: vec![0] }
    }
}

impl AfterLists {
    /// Room for `tasks` more tasks (their entries grow as they come).
    pub fn reserve(&mut self, tasks: usize) {
        self.tasks.reserve(tasks);
    }

    /// Like `reserve`, doing nothing when that much memory is not to be had.
    pub fn try_reserve(&mut self, tasks: usize) {
        let _ = self.tasks.try_reserve(tasks);
    }

    /// Adds an entry to the task being built (the one `end_task` will close).
    pub fn push_entry(&mut self, entry: &str) {
        self.text.push_str(entry);
        self.ends.push(self.text.len());
    }

    /// Closes the task being built: the entries pushed since the last call are its list.
    pub fn end_task(&mut self) {
        self.tasks.push(self.ends.len());
    }

    /// Adds a task with these entries.
    pub fn push<'a>(&mut self, entries: impl IntoIterator<Item = &'a str>) {
        for e in entries {
            self.push_entry(e);
        }
        self.end_task();
    }

    /// How many tasks have lists.
    pub fn len(&self) -> usize {
        self.tasks.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries all tasks have together.
    pub fn entries(&self) -> usize {
        self.tasks[self.len()]
    }

    /// Task `i`'s entries, in the order written.
    pub fn get(&self, i: usize) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        (self.tasks[i]..self.tasks[i + 1]).map(|e| {
            let start = if e == 0 { 0 } else { self.ends[e - 1] };
            &self.text[start..self.ends[e]]
        })
    }

    /// Appends the tasks of `other` after these.
    pub fn append(&mut self, other: AfterLists) {
        let (bytes, entries) = (self.text.len(), self.ends.len());
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|&e| e + bytes));
        self.tasks.extend(other.tasks[1..].iter().map(|&t| t + entries));
    }
}

impl fmt::Debug for AfterLists {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries((0..self.len()).map(|i| self.get(i).collect::<Vec<_>>())).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_each_tasks_entries_in_order() {
        let mut a = AfterLists::default();
        a.push(["x", "", "yz"]);
        a.push([]);
        a.push(["w"]);
        assert_eq!(a.len(), 3);
        assert_eq!(a.entries(), 4);
        assert_eq!(a.get(0).collect::<Vec<_>>(), ["x", "", "yz"]);
        assert_eq!(a.get(1).len(), 0);
        assert_eq!(a.get(2).collect::<Vec<_>>(), ["w"]);
        assert_eq!(format!("{a:?}"), r#"[["x", "", "yz"], [], ["w"]]"#);
    }

    #[test]
    fn appending_gives_the_lists_one_after_the_other() {
        let mut a = AfterLists::default();
        a.push(["a"]);
        let mut b = AfterLists::default();
        b.push([]);
        b.push(["b", "c"]);
        a.append(b);
        a.append(AfterLists::default());
        let mut whole = AfterLists::default();
        whole.push(["a"]);
        whole.push([]);
        whole.push(["b", "c"]);
        assert_eq!(a, whole);
    }
}
