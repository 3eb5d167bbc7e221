//! The persistent name index: a hash array mapped trie (Bagwell's HAMT)
//! from a node's key to the node, with path copying.
//!
//! Why our own and not `imbl`: `imbl`'s B-tree needs two pointer hops per
//! key comparison (about 36 cache misses per lookup in a 100k-name zone,
//! measured as the largest cost of an answer), and its HAMT keeps every
//! trie node at 32 full slots. Here a lookup is one hash and about
//! log64(n) hops through compressed slot arrays, and a change copies only
//! the arrays on the path to the changed name, never the whole zone.
//!
//! The hash is keyed per zone (SipHash with a random key), so records from
//! a transfer cannot be crafted to collide; equal 60-bit prefixes are still
//! handled, by a collision slot.
//!
//! An index built whole puts every branch of one level in one shared array
//! ([`Slots`] are runs within it), as `node::NodeBlocks` does for nodes: a
//! replaced version then frees a few large arrays, not thousands of small
//! ones whose holes the next version's allocations would be scattered
//! through (see `memory`). A change copies the branches on its path into
//! arrays of their own.

use super::node::{prefetch_line, Node};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const BITS: u32 = 6;
/// Levels that branch; below this, entries share a collision slot.
const LEVELS: u32 = 10;

#[derive(Clone)]
enum Slot {
    Leaf(u64, Node),
    Branch(u64, Slots),
    Collision(Arc<[(u64, Node)]>),
}

/// The slots of one branch: a run of a shared array.
#[derive(Clone)]
struct Slots {
    array: Arc<[Slot]>,
    at: u32,
    len: u32,
}

impl Slots {
    /// Slots in an array of their own.
    fn alone(slots: Vec<Slot>) -> Slots {
        let len = slots.len() as u32;
        Slots {
            array: slots.into(),
            at: 0,
            len,
        }
    }
}

impl std::ops::Deref for Slots {
    type Target = [Slot];
    fn deref(&self) -> &[Slot] {
        let at = self.at as usize;
        self.array.get(at..at + self.len as usize).unwrap_or(&[])
    }
}

fn chunk(hash: u64, level: u32) -> u32 {
    ((hash >> (64 - BITS * (level + 1))) & ((1 << BITS) - 1)) as u32
}

fn position(bitmap: u64, bit: u32) -> usize {
    (bitmap & ((1u64 << bit) - 1)).count_ones() as usize
}

/// A lookup's path through the trie being fetched into the cache, one
/// level a step. Answers to a batch of UDP queries start all their paths,
/// then step each in turn, so the cache misses of the batch's lookups
/// overlap instead of coming one after the other: they were most of the
/// CPU our code spent on an answer (`bench/README.md`).
pub struct PathPrefetch {
    hash: u64,
    /// The level whose slot the next step prefetches.
    level: u32,
    done: bool,
}

/// The keyed hash of an index, with an identity: two indexes with the
/// same identity place every key alike, so they can be compared slot by
/// slot ([`NameIndex::diff`]).
#[derive(Clone)]
pub struct IndexHasher {
    state: RandomState,
    id: u64,
}

impl IndexHasher {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        IndexHasher {
            state: RandomState::new(),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// A persistent map from key to node. Cloning is O(1).
#[derive(Clone)]
pub struct NameIndex {
    hasher: IndexHasher,
    bitmap: u64,
    root: Slots,
    len: usize,
}

impl std::fmt::Debug for NameIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NameIndex({} names)", self.len)
    }
}

impl NameIndex {
    /// Builds an index of `nodes` (keys must be distinct) in one pass.
    pub fn build(nodes: Vec<Node>) -> NameIndex {
        Self::build_with(nodes, IndexHasher::new())
    }

    /// Builds an index hashed as `like` is, so that a diff against it
    /// walks both side by side instead of looking every name up (a
    /// reload of a large zone diffs the new version against the one
    /// served). The key stays the zone's own random one.
    pub fn build_like(nodes: Vec<Node>, like: &NameIndex) -> NameIndex {
        Self::build_with(nodes, like.hasher.clone())
    }

    /// The hasher, for a later [`NameIndex::build_like`].
    pub fn hasher(&self) -> &IndexHasher {
        &self.hasher
    }

    /// Builds with a given hasher (see [`NameIndex::build_like`]).
    pub fn build_with(nodes: Vec<Node>, hasher: IndexHasher) -> NameIndex {
        let mut entries: Vec<(u64, Node)> = nodes
            .into_iter()
            .map(|n| (hasher.state.hash_one(n.key()), n))
            .collect();
        entries.sort_unstable_by_key(|e| e.0);
        let len = entries.len();
        let mut plan = Plan::default();
        let (bitmap, root) = plan.level(&entries, 0, 0);
        let root = plan.materialize(&entries, root);
        NameIndex {
            hasher,
            bitmap,
            root,
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.state.hash_one(key)
    }

    /// The node with exactly this key.
    pub fn get(&self, key: &[u8]) -> Option<&Node> {
        let hash = self.hash(key);
        let mut bitmap = self.bitmap;
        let mut slots: &[Slot] = &self.root;
        let mut level = 0;
        loop {
            let bit = chunk(hash, level.min(LEVELS - 1));
            if bitmap & (1u64 << bit) == 0 {
                return None;
            }
            match slots.get(position(bitmap, bit))? {
                Slot::Leaf(h, node) => return (*h == hash && node.key() == key).then_some(node),
                Slot::Branch(b, s) => {
                    bitmap = *b;
                    slots = s;
                    level += 1;
                }
                Slot::Collision(list) => {
                    return list
                        .iter()
                        .find(|(h, n)| *h == hash && n.key() == key)
                        .map(|(_, n)| n)
                }
            }
        }
    }

    /// Starts fetching the path to `key` into the cache ahead of a
    /// [`get`](Self::get) (see [`PathPrefetch`]).
    pub fn prefetch_start(&self, key: &[u8]) -> PathPrefetch {
        let mut path = PathPrefetch {
            hash: self.hash(key),
            level: 1,
            done: false,
        };
        self.prefetch_step(&mut path);
        path
    }

    /// Walks the levels of `path` fetched so far (in the cache by now, or
    /// arriving) and prefetches the next: the slot one level down, or the
    /// node itself once the walk reaches a leaf.
    pub fn prefetch_step(&self, path: &mut PathPrefetch) {
        if path.done {
            return;
        }
        let mut bitmap = self.bitmap;
        let mut slots: &[Slot] = &self.root;
        let mut level = 0;
        loop {
            let bit = chunk(path.hash, level.min(LEVELS - 1));
            let slot = match slots.get(position(bitmap, bit)) {
                Some(slot) if bitmap & (1u64 << bit) != 0 => slot,
                _ => break,
            };
            if level == path.level {
                // Both ends: a slot may straddle two cache lines.
                let at = slot as *const Slot as *const u8;
                prefetch_line(at);
                prefetch_line(at.wrapping_add(std::mem::size_of::<Slot>() - 1));
                path.level += 1;
                return;
            }
            match slot {
                Slot::Leaf(_, node) => {
                    node.prefetch();
                    break;
                }
                Slot::Branch(b, s) => {
                    bitmap = *b;
                    slots = s;
                    level += 1;
                }
                Slot::Collision(_) => break,
            }
        }
        path.done = true;
    }

    /// A new index with `node` added or replacing the node of its key.
    pub fn insert(&self, node: Node) -> NameIndex {
        let hash = self.hash(node.key());
        let (bitmap, root, added) = insert_level(self.bitmap, &self.root, hash, node, 0);
        NameIndex {
            hasher: self.hasher.clone(),
            bitmap,
            root,
            len: self.len + usize::from(added),
        }
    }

    /// A new index without the node of `key` (the same one if absent).
    pub fn remove(&self, key: &[u8]) -> NameIndex {
        let hash = self.hash(key);
        match remove_level(self.bitmap, &self.root, hash, key, 0) {
            Some((bitmap, root)) => NameIndex {
                hasher: self.hasher.clone(),
                bitmap,
                root,
                len: self.len - 1,
            },
            None => self.clone(),
        }
    }

    /// Calls `changed` for every key whose node differs between `self`
    /// (old) and `new`: `(Some, Some)` for a node replaced, `(Some, None)`
    /// removed, `(None, Some)` added, in no particular order; a node that
    /// is [`Node::same`] in both is not reported. Both indexes must hash
    /// alike (one derived from the other, or built with
    /// [`NameIndex::build_like`]); otherwise nothing is called and the
    /// answer is `false`.
    ///
    /// Walks both tries side by side: a branch shared by both (an index
    /// derived by `insert`/`remove` shares every branch off the changed
    /// paths) is skipped whole, so a diff after a small change costs its
    /// paths; two indexes built apart cost one pass, without a lookup.
    pub fn diff(
        &self,
        new: &NameIndex,
        changed: &mut dyn FnMut(Option<&Node>, Option<&Node>),
    ) -> bool {
        if self.hasher.id != new.hasher.id {
            return false;
        }
        diff_level(self.bitmap, &self.root, new.bitmap, &new.root, changed);
        true
    }

    /// Every node, in no particular order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            stack: vec![(&self.root[..], 0)],
            collision: None,
        }
    }
}

/// Where each slot of an index built whole goes: per level, the slots of
/// every branch of that level, each branch a contiguous run.
#[derive(Default)]
struct Plan {
    levels: Vec<Vec<PlanSlot>>,
}

enum PlanSlot {
    /// The entry at this position.
    Leaf(usize),
    /// Entries sharing a 60-bit hash prefix.
    Collision(std::ops::Range<usize>),
    /// A branch: its bitmap and its run in the next level.
    Branch(u64, Run),
}

/// A run of slots within one level: (start, length).
type Run = (u32, u32);

impl Plan {
    /// Plans the branch of `entries` (sorted by hash, starting at
    /// `first` in the whole list) at `level`: its bitmap and its run.
    /// A branch's slots go into its level one after the other while its
    /// children go into deeper levels only, so the run is contiguous.
    fn level(&mut self, entries: &[(u64, Node)], first: usize, level: u32) -> (u64, Run) {
        let depth = level as usize;
        if self.levels.len() <= depth {
            self.levels.resize_with(depth + 1, Vec::new);
        }
        let start = self.levels[depth].len();
        let mut bitmap = 0u64;
        let mut at = 0;
        while let Some(head) = entries.get(at) {
            let bit = chunk(head.0, level);
            let n = entries[at..]
                .iter()
                .take_while(|e| chunk(e.0, level) == bit)
                .count();
            bitmap |= 1u64 << bit;
            let slot = match n {
                1 => PlanSlot::Leaf(first + at),
                _ if level + 1 == LEVELS => PlanSlot::Collision(first + at..first + at + n),
                _ => {
                    let (b, run) = self.level(&entries[at..at + n], first + at, level + 1);
                    PlanSlot::Branch(b, run)
                }
            };
            self.levels[depth].push(slot);
            at += n;
        }
        let len = self.levels[depth].len() - start;
        (bitmap, (start as u32, len as u32))
    }

    /// The planned levels as one shared array each, deepest first (a
    /// branch points into the level below it); the root's slots.
    fn materialize(self, entries: &[(u64, Node)], root: Run) -> Slots {
        let mut below: Arc<[Slot]> = Arc::from(Vec::new());
        for plan in self.levels.into_iter().rev() {
            // A `map` over a `vec::IntoIter` has an exact length, so the
            // shared array is allocated once at its size: collecting into
            // a `Vec` first and converting would hold the level twice (40
            // MB more at the peak of a 1M-name load). The positions come
            // from the plan of these same entries, so they are in range.
            let level: Arc<[Slot]> = plan
                .into_iter()
                .map(|p| match p {
                    PlanSlot::Leaf(i) => Slot::Leaf(entries[i].0, entries[i].1.clone()),
                    PlanSlot::Collision(range) => Slot::Collision(entries[range].into()),
                    PlanSlot::Branch(bitmap, (at, len)) => Slot::Branch(
                        bitmap,
                        Slots {
                            array: Arc::clone(&below),
                            at,
                            len,
                        },
                    ),
                })
                .collect();
            below = level;
        }
        Slots {
            array: below,
            at: root.0,
            len: root.1,
        }
    }
}

/// Two leaves that met at `level`: a branch (or collision) holding both.
fn split(a: (u64, Node), b: (u64, Node), level: u32) -> Slot {
    if level == LEVELS {
        return Slot::Collision(vec![a, b].into());
    }
    let mut pair = [a, b];
    pair.sort_unstable_by_key(|e| e.0);
    let mut plan = Plan::default();
    let (bitmap, run) = plan.level(&pair, 0, level);
    // The plan's levels start at `level`: shift them down to index 0.
    plan.levels.drain(..level as usize);
    Slot::Branch(bitmap, plan.materialize(&pair, run))
}

fn insert_level(
    bitmap: u64,
    slots: &[Slot],
    hash: u64,
    node: Node,
    level: u32,
) -> (u64, Slots, bool) {
    let bit = chunk(hash, level);
    let pos = position(bitmap, bit);
    if bitmap & (1u64 << bit) == 0 {
        let mut v = Vec::with_capacity(slots.len() + 1);
        v.extend_from_slice(&slots[..pos]);
        v.push(Slot::Leaf(hash, node));
        v.extend_from_slice(&slots[pos..]);
        return (bitmap | (1u64 << bit), Slots::alone(v), true);
    }
    let mut v = slots.to_vec();
    let added = match &slots[pos] {
        Slot::Leaf(h, old) if *h == hash && old.key() == node.key() => {
            v[pos] = Slot::Leaf(hash, node);
            false
        }
        Slot::Leaf(h, old) => {
            v[pos] = split((*h, old.clone()), (hash, node), level + 1);
            true
        }
        Slot::Branch(b, s) => {
            let (nb, ns, added) = insert_level(*b, s, hash, node, level + 1);
            v[pos] = Slot::Branch(nb, ns);
            added
        }
        Slot::Collision(list) => {
            let mut l = list.to_vec();
            let added = match l
                .iter()
                .position(|(h, n)| *h == hash && n.key() == node.key())
            {
                Some(i) => {
                    l[i] = (hash, node);
                    false
                }
                None => {
                    l.push((hash, node));
                    true
                }
            };
            v[pos] = Slot::Collision(l.into());
            added
        }
    };
    (bitmap, Slots::alone(v), added)
}

/// `None` when the key is absent.
fn remove_level(
    bitmap: u64,
    slots: &[Slot],
    hash: u64,
    key: &[u8],
    level: u32,
) -> Option<(u64, Slots)> {
    let bit = chunk(hash, level.min(LEVELS - 1));
    if bitmap & (1u64 << bit) == 0 {
        return None;
    }
    let pos = position(bitmap, bit);
    let replacement = match slots.get(pos)? {
        Slot::Leaf(h, node) if *h == hash && node.key() == key => None,
        Slot::Leaf(..) => return None,
        Slot::Branch(b, s) => {
            let (nb, ns) = remove_level(*b, s, hash, key, level + 1)?;
            match (nb.count_ones(), ns.first()) {
                (0, _) => None,
                // A branch left with one leaf collapses into it.
                (1, Some(leaf @ Slot::Leaf(..))) => Some(leaf.clone()),
                _ => Some(Slot::Branch(nb, ns)),
            }
        }
        Slot::Collision(list) => {
            let i = list
                .iter()
                .position(|(h, n)| *h == hash && n.key() == key)?;
            let mut l = list.to_vec();
            l.remove(i);
            match l.len() {
                0 => None,
                1 => l.pop().map(|(h, n)| Slot::Leaf(h, n)),
                _ => Some(Slot::Collision(l.into())),
            }
        }
    };
    let mut v = slots.to_vec();
    match replacement {
        Some(slot) => {
            v[pos] = slot;
            Some((bitmap, Slots::alone(v)))
        }
        None => {
            v.remove(pos);
            Some((bitmap & !(1u64 << bit), Slots::alone(v)))
        }
    }
}

/// One level of [`NameIndex::diff`]: both sides' slots at the same
/// position of the same level hold the keys of the same hash prefix.
fn diff_level(
    old_bitmap: u64,
    old: &Slots,
    new_bitmap: u64,
    new: &Slots,
    changed: &mut dyn FnMut(Option<&Node>, Option<&Node>),
) {
    if old_bitmap == new_bitmap
        && Arc::ptr_eq(&old.array, &new.array)
        && old.at == new.at
        && old.len == new.len
    {
        return;
    }
    for bit in 0..64u32 {
        let mask = 1u64 << bit;
        let a = (old_bitmap & mask != 0)
            .then(|| old.get(position(old_bitmap, bit)))
            .flatten();
        let b = (new_bitmap & mask != 0)
            .then(|| new.get(position(new_bitmap, bit)))
            .flatten();
        match (a, b) {
            (None, None) => {}
            (Some(a), None) => each_node(a, &mut |n| changed(Some(n), None)),
            (None, Some(b)) => each_node(b, &mut |n| changed(None, Some(n))),
            (Some(a), Some(b)) => diff_slot(a, b, changed),
        }
    }
}

fn diff_slot(old: &Slot, new: &Slot, changed: &mut dyn FnMut(Option<&Node>, Option<&Node>)) {
    match (old, new) {
        (Slot::Leaf(ha, a), Slot::Leaf(hb, b)) if ha == hb && a.key() == b.key() => {
            if !a.same(b) {
                changed(Some(a), Some(b));
            }
        }
        (Slot::Branch(ba, sa), Slot::Branch(bb, sb)) => diff_level(*ba, sa, *bb, sb, changed),
        _ => {
            // A leaf against a branch (one side has one key of this
            // prefix, the other several), two different leaves, or a
            // collision slot: few keys on at least one side, matched by
            // key.
            let mut olds: Vec<&Node> = Vec::new();
            each_node(old, &mut |n| olds.push(n));
            let mut news: Vec<&Node> = Vec::new();
            each_node(new, &mut |n| news.push(n));
            for a in &olds {
                match news.iter().find(|b| b.key() == a.key()) {
                    Some(b) if a.same(b) => {}
                    Some(b) => changed(Some(a), Some(b)),
                    None => changed(Some(a), None),
                }
            }
            for b in news {
                if !olds.iter().any(|a| a.key() == b.key()) {
                    changed(None, Some(b));
                }
            }
        }
    }
}

/// Every node under a slot.
fn each_node<'a>(slot: &'a Slot, f: &mut dyn FnMut(&'a Node)) {
    match slot {
        Slot::Leaf(_, n) => f(n),
        Slot::Branch(_, s) => s.iter().for_each(|s| each_node(s, f)),
        Slot::Collision(list) => list.iter().for_each(|(_, n)| f(n)),
    }
}

pub struct Iter<'a> {
    stack: Vec<(&'a [Slot], usize)>,
    collision: Option<(&'a [(u64, Node)], usize)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Node;
    fn next(&mut self) -> Option<&'a Node> {
        loop {
            if let Some((list, i)) = &mut self.collision {
                if let Some((_, node)) = list.get(*i) {
                    *i += 1;
                    return Some(node);
                }
                self.collision = None;
            }
            let (slots, i) = self.stack.last_mut()?;
            let Some(slot) = slots.get(*i) else {
                self.stack.pop();
                continue;
            };
            *i += 1;
            match slot {
                Slot::Leaf(_, node) => return Some(node),
                Slot::Branch(_, s) => self.stack.push((s, 0)),
                Slot::Collision(list) => self.collision = Some((list, 0)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u32) -> Node {
        Node::pack(format!("key{i}\0").as_bytes(), 0, &[])
    }

    /// (key, value byte) pairs the diff reported, both sides.
    type Reported = std::collections::BTreeMap<Vec<u8>, (Option<Vec<u8>>, Option<Vec<u8>>)>;

    fn reported(old: &NameIndex, new: &NameIndex) -> Option<Reported> {
        let mut out = Reported::new();
        let blob = |n: Option<&Node>| n.map(|n| n.rrsets().map(|s| s.ttl() as u8).collect());
        let walked = old.diff(new, &mut |a, b| {
            let key = a.or(b).map(|n| n.key().to_vec()).unwrap_or_default();
            assert!(
                out.insert(key, (blob(a), blob(b))).is_none(),
                "reported twice"
            );
        });
        walked.then_some(out)
    }

    fn valued(i: u32, v: u8) -> Node {
        use crate::zone::node::RrsetData;
        let data = [0u8, 1, 7];
        let set = RrsetData {
            rtype: 1,
            ttl: u32::from(v),
            data: &data,
            sigs: None,
        };
        Node::pack(format!("key{i}\0").as_bytes(), 0, &[set])
    }

    #[test]
    fn diff_reports_exactly_the_changed_keys_derived_or_built_alike() {
        let mut rng = crate::testing::Rng(0x9E37_79B9_7F4A_7C15);
        let mut below = |n: u64| rng.below(n as usize) as u32;
        let n = 3000;
        let base = NameIndex::build((0..n).map(|i| valued(i, 0)).collect());
        let mut model: std::collections::BTreeMap<u32, u8> = (0..n).map(|i| (i, 0)).collect();
        let mut derived = base.clone();
        for _ in 0..400 {
            let i = below(u64::from(n) + 500);
            match below(3) {
                0 => {
                    derived = derived.remove(format!("key{i}\0").as_bytes());
                    model.remove(&i);
                }
                _ => {
                    let v = 1 + below(200) as u8;
                    derived = derived.insert(valued(i, v));
                    model.insert(i, v);
                }
            }
        }
        let mut expect = Reported::new();
        for i in 0..n + 500 {
            let old = (i < n).then_some(0u8);
            let new = model.get(&i).copied();
            if old != new {
                let key = format!("key{i}\0").into_bytes();
                expect.insert(key, (old.map(|v| vec![v]), new.map(|v| vec![v])));
            }
        }
        assert_eq!(reported(&base, &derived).expect("derived"), expect);
        // Built whole with the same hasher: every node is a new one, so
        // every key is reported, with the same values as the model's.
        let nodes = model.iter().map(|(&i, &v)| valued(i, v)).collect();
        let rebuilt = NameIndex::build_like(nodes, &base);
        let all = reported(&base, &rebuilt).expect("built alike");
        for (key, (a, b)) in &all {
            if a == b {
                assert!(!expect.contains_key(key));
            } else {
                assert_eq!(expect.get(key), Some(&(a.clone(), b.clone())));
            }
        }
        assert_eq!(
            all.len(),
            (0..n + 500)
                .filter(|i| *i < n || model.contains_key(i))
                .count()
        );
        // Built apart: no walk.
        assert!(reported(&base, &NameIndex::build(Vec::new())).is_none());
        assert_eq!(
            reported(&derived, &derived).expect("itself"),
            Reported::new()
        );
    }

    /// Where `get` ends its walk for `key`: the level, and whether a slot
    /// (leaf or collision) is there rather than nothing.
    fn get_end(index: &NameIndex, key: &[u8]) -> (u32, bool) {
        let hash = index.hash(key);
        let (mut bitmap, mut slots, mut level) = (index.bitmap, &index.root[..], 0);
        loop {
            let bit = chunk(hash, level.min(LEVELS - 1));
            match slots.get(position(bitmap, bit)) {
                Some(Slot::Branch(b, s)) if bitmap & (1u64 << bit) != 0 => {
                    (bitmap, slots, level) = (*b, s, level + 1);
                }
                Some(_) if bitmap & (1u64 << bit) != 0 => return (level, true),
                _ => return (level, false),
            }
        }
    }

    #[test]
    fn a_prefetch_walks_the_path_a_lookup_takes() {
        let n = 20_000;
        let index = NameIndex::build((0..n).map(node).collect());
        let mut changed = index.clone();
        for i in (0..n).step_by(7) {
            changed = changed.insert(valued(i, 1));
        }
        for index in [&index, &changed] {
            for i in 0..n + 2000 {
                let key = format!("key{i}\0");
                let mut path = index.prefetch_start(key.as_bytes());
                let mut calls = 1;
                while !path.done && calls <= LEVELS + 2 {
                    index.prefetch_step(&mut path);
                    calls += 1;
                }
                // A call a level below the root, and one more for the
                // node when the walk ends on a slot rather than nothing.
                let (level, slot) = get_end(index, key.as_bytes());
                assert_eq!(calls, level.max(1) + u32::from(slot), "{key}");
            }
        }
    }

    #[test]
    fn build_get_insert_remove_agree_with_a_btree() {
        let n = 5000;
        let index = NameIndex::build((0..n).map(node).collect());
        assert_eq!(index.len(), n as usize);
        for i in 0..n {
            let k = format!("key{i}\0");
            assert_eq!(index.get(k.as_bytes()).map(|n| n.key()), Some(k.as_bytes()));
        }
        assert!(index.get(b"nope\0").is_none());
        // Persistent: the old index is unchanged by changes to a new one.
        let mut next = index.clone();
        for i in (0..n).step_by(3) {
            next = next.remove(format!("key{i}\0").as_bytes());
        }
        for i in n..n + 700 {
            next = next.insert(node(i));
        }
        next = next.insert(node(1)); // replace, not add
        let expect: std::collections::BTreeSet<Vec<u8>> = (0..n + 700)
            .filter(|i| *i >= n || i % 3 != 0)
            .map(|i| format!("key{i}\0").into_bytes())
            .collect();
        let got: std::collections::BTreeSet<Vec<u8>> =
            next.iter().map(|n| n.key().to_vec()).collect();
        assert_eq!(got, expect);
        assert_eq!(next.len(), expect.len());
        for k in &expect {
            assert!(next.get(k).is_some());
        }
        assert!(next.get(b"key0\0").is_none());
        assert!(index.get(b"key0\0").is_some());
        assert_eq!(index.iter().count(), n as usize);
    }

    #[test]
    fn collisions_are_kept_apart() {
        let a = (0xdead_beef_0000_0001u64, node(1));
        let b = (0xdead_beef_0000_0001u64, node(2));
        let slot = split(a, b, 0);
        let (bitmap, root) = match slot {
            Slot::Branch(b, s) => (b, s),
            _ => panic!("expected a branch"),
        };
        let index = NameIndex {
            hasher: IndexHasher::new(),
            bitmap,
            root,
            len: 2,
        };
        assert_eq!(index.iter().count(), 2);
    }

    /// The distinct arrays the branches of an index use, and its levels.
    fn arrays(index: &NameIndex) -> (usize, usize) {
        let mut seen: Vec<*const Slot> = vec![index.root.array.as_ptr()];
        let mut levels = 1;
        let mut stack = vec![(index.root.clone(), 1)];
        while let Some((slots, level)) = stack.pop() {
            levels = levels.max(level);
            for slot in slots.iter() {
                if let Slot::Branch(_, s) = slot {
                    if !seen.contains(&s.array.as_ptr()) {
                        seen.push(s.array.as_ptr());
                    }
                    stack.push((s.clone(), level + 1));
                }
            }
        }
        (seen.len(), levels)
    }

    #[test]
    fn an_index_built_whole_is_one_array_per_level_and_changes_copy_the_path() {
        let index = NameIndex::build((0..5000).map(node).collect());
        let (shared, levels) = arrays(&index);
        assert!(levels >= 3, "5,000 names hashed 6 bits a level");
        assert_eq!(shared, levels, "one array per level");
        let changed = index.insert(node(9999)).remove(b"key17\0");
        // Each change copies at most one branch a level.
        assert!(arrays(&changed).0 <= levels + 2 * LEVELS as usize);
        assert_eq!(changed.iter().count(), 5000);
        assert!(changed.get(b"key9999\0").is_some() && changed.get(b"key17\0").is_none());
        assert!(index.get(b"key17\0").is_some() && index.get(b"key9999\0").is_none());
        let empty = NameIndex::build(Vec::new());
        assert!(empty.get(b"key1\0").is_none() && empty.iter().next().is_none());
    }
}
