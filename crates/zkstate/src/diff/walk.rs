//! The walk behind [`diff`](super::diff): an explicit stack of work items instead of recursion,
//! so that arbitrarily deep values do not overflow the thread's stack.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::budget::{path_bytes, Budget};
use super::change::Change;
use super::path::{KeyPath, PathSegment};
use super::value::{deep_clone, equal_within, scalars_equal, EQUALITY_DEPTH};

/// A path step borrowed from the values: owned only when it enters the path or a change.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl Step<'_> {
    fn owned(self) -> PathSegment {
        match self {
            Step::Key(key) => PathSegment::Key(key.to_string()),
            Step::Index(i) => PathSegment::Index(i),
        }
    }
}

enum Work<'a> {
    /// Compare two values at the current path plus `step` (none for the root).
    Compare(Option<Step<'a>>, &'a Value, &'a Value),
    /// Leave a container entered by a `Compare`.
    Leave,
    Added(Step<'a>, &'a Value),
    Removed(Step<'a>, &'a Value),
}

/// Whether a map's keys iterate in sorted order: always, unless some crate in the build
/// enabled serde_json's `preserve_order`.
fn sorted_keys(map: &Map<String, Value>) -> bool {
    map.keys().zip(map.keys().skip(1)).all(|(x, y)| x < y)
}

/// One diff in progress.
pub(super) struct Walk<'a> {
    changes: Vec<Change>,
    /// What the changes so far cost against the budget's path bytes.
    path_bytes: usize,
    /// One path shared by the whole walk and only cloned into emitted changes: a path per work
    /// item would cost O(depth²) on deep values.
    path: KeyPath,
    /// A stack pops last-in first, so each container's work is pushed in reverse of the order
    /// in which its changes must come out.
    stack: Vec<Work<'a>>,
}

impl<'a> Walk<'a> {
    /// The changes that turn `old` into `new`, in the order [`diff`](super::diff) documents;
    /// `None` as soon as they would cost more than `budget`.
    pub(super) fn run(old: &'a Value, new: &'a Value, budget: Budget) -> Option<Vec<Change>> {
        let mut walk = Walk {
            changes: Vec::new(),
            path_bytes: 0,
            path: KeyPath::root(),
            stack: vec![Work::Compare(None, old, new)],
        };
        while let Some(work) = walk.stack.pop() {
            let before = walk.changes.len();
            walk.step(work);
            if let Some(change) = walk.changes.get(before) {
                walk.path_bytes = walk
                    .path_bytes
                    .saturating_add(path_bytes(change.path().segments()));
            }
            if walk.changes.len() > budget.changes || walk.path_bytes > budget.path_bytes {
                return None;
            }
        }
        Some(walk.changes)
    }

    fn step(&mut self, work: Work<'a>) {
        match work {
            Work::Leave => {
                self.path.pop();
            }
            Work::Added(step, value) => {
                let path = self.path.child(step.owned());
                let value = deep_clone(value);
                self.changes.push(Change::Added { path, value });
            }
            Work::Removed(step, value) => {
                let path = self.path.child(step.owned());
                let value = deep_clone(value);
                self.changes.push(Change::Removed { path, value });
            }
            Work::Compare(step, old, new) => self.compare(step, old, new),
        }
    }

    fn compare(&mut self, step: Option<Step<'a>>, old: &'a Value, new: &'a Value) {
        match (old, new) {
            _ if std::ptr::eq(old, new) => {}
            (Value::Object(a), Value::Object(b)) => {
                self.enter(step);
                if sorted_keys(a) && sorted_keys(b) {
                    self.push_sorted_keys(a, b);
                } else {
                    self.push_keys(a, b);
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                self.enter(step);
                self.push_elements(a, b);
            }
            (old, new) if scalars_equal(old, new) => {}
            (old, new) => {
                let path = match step {
                    Some(step) => self.path.child(step.owned()),
                    None => self.path.clone(),
                };
                self.changes.push(Change::Modified {
                    path,
                    old: deep_clone(old),
                    new: deep_clone(new),
                });
            }
        }
    }

    /// Enters a container at `step` (the root is entered already), to leave it when its work is
    /// done.
    fn enter(&mut self, step: Option<Step<'a>>) {
        if let Some(step) = step {
            self.path.push(step.owned());
            self.stack.push(Work::Leave);
        }
    }

    /// The work of two objects whose keys iterate in sorted order: the two key lists merged from
    /// the back, without allocating.
    fn push_sorted_keys(&mut self, a: &'a Map<String, Value>, b: &'a Map<String, Value>) {
        let (mut xs, mut ys) = (a.iter().rev().peekable(), b.iter().rev().peekable());
        loop {
            match (xs.peek(), ys.peek()) {
                (Some(&(ka, x)), Some(&(kb, y))) => match ka.cmp(kb) {
                    Ordering::Equal => {
                        if equal_within(x, y, EQUALITY_DEPTH) != Some(true) {
                            self.stack.push(Work::Compare(Some(Step::Key(ka)), x, y));
                        }
                        xs.next();
                        ys.next();
                    }
                    Ordering::Greater => {
                        self.stack.push(Work::Removed(Step::Key(ka), x));
                        xs.next();
                    }
                    Ordering::Less => {
                        self.stack.push(Work::Added(Step::Key(kb), y));
                        ys.next();
                    }
                },
                (Some(&(ka, x)), None) => {
                    self.stack.push(Work::Removed(Step::Key(ka), x));
                    xs.next();
                }
                (None, Some(&(kb, y))) => {
                    self.stack.push(Work::Added(Step::Key(kb), y));
                    ys.next();
                }
                (None, None) => break,
            }
        }
    }

    /// The work of two objects whose keys may not iterate in sorted order: their keys collected
    /// and sorted.
    fn push_keys(&mut self, a: &'a Map<String, Value>, b: &'a Map<String, Value>) {
        let mut keys: Vec<&String> = a
            .keys()
            .chain(b.keys().filter(|k| !a.contains_key(*k)))
            .collect();
        keys.sort_unstable();
        for key in keys.into_iter().rev() {
            let step = Step::Key(key);
            match (a.get(key), b.get(key)) {
                (Some(x), Some(y)) => self.stack.push(Work::Compare(Some(step), x, y)),
                (None, Some(y)) => self.stack.push(Work::Added(step, y)),
                (Some(x), None) => self.stack.push(Work::Removed(step, x)),
                // Every key came from `a` or `b`.
                (None, None) => {}
            }
        }
    }

    /// The work of two arrays. Output order: compares 0..common, additions ascending, removals
    /// descending.
    fn push_elements(&mut self, a: &'a [Value], b: &'a [Value]) {
        let common = a.len().min(b.len());
        for (i, x) in a.iter().enumerate().skip(common) {
            self.stack.push(Work::Removed(Step::Index(i), x));
        }
        for (i, y) in b.iter().enumerate().skip(common).rev() {
            self.stack.push(Work::Added(Step::Index(i), y));
        }
        for (i, (x, y)) in a.iter().zip(b).enumerate().rev() {
            // Equal elements, the common case, need no trip through the stack.
            if equal_within(x, y, EQUALITY_DEPTH) == Some(true) {
                continue;
            }
            self.stack.push(Work::Compare(Some(Step::Index(i)), x, y));
        }
    }
}
