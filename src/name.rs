//! Domain names in uncompressed wire format, and the lookup key that sorts
//! them in DNSSEC canonical order (RFC 4034 §6.1).
//!
//! The store never keeps `domain::base::Name` values: a name is a byte slice
//! in wire format, and a node is found by its *key*. The key of a name is its
//! labels from the root down, each lower-cased and followed by a terminator,
//! so that
//! - byte-wise comparison of keys is canonical name order, and
//! - the key of an ancestor is a prefix of the key of its descendant, which
//!   lets the lookup walk down a query name without building new names.
//!
//! Encoding of a label: octet 0x00 → `01 01`, 0x01 → `01 02`, any other octet
//! (ASCII lower-cased) as itself, then the terminator `00`. The terminator
//! sorts below every content octet, so a label that is a prefix of another
//! sorts first, as RFC 4034 §6.1 requires.

/// The longest name in wire format (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// The most labels a name can have, the root label not counted.
pub const MAX_LABELS: usize = 127;
/// The longest key: every octet escaped, plus one terminator per label.
pub const MAX_KEY_LEN: usize = 2 * MAX_NAME_LEN;

/// The wire name of the root.
pub const ROOT: &[u8] = &[0];

/// Checks that `name` is one complete, uncompressed wire name and returns
/// its length (including the root label).
pub fn wire_len(name: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    loop {
        let len = *name.get(pos)? as usize;
        if len == 0 {
            let total = pos + 1;
            return (total <= MAX_NAME_LEN).then_some(total);
        }
        if len > 63 {
            return None;
        }
        pos += 1 + len;
        if pos >= MAX_NAME_LEN {
            return None;
        }
    }
}

/// Iterates the labels of a valid wire name, leftmost first, root excluded.
pub fn labels(name: &[u8]) -> Labels<'_> {
    Labels { rest: name }
}

pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        if len == 0 || len as usize > tail.len() {
            self.rest = &[];
            return None;
        }
        let (label, rest) = tail.split_at(len as usize);
        self.rest = rest;
        Some(label)
    }
}

/// Number of labels, root excluded.
pub fn label_count(name: &[u8]) -> usize {
    labels(name).count()
}

/// Whether `name` equals `ancestor` or lies below it.
pub fn is_subdomain(name: &[u8], ancestor: &[u8]) -> bool {
    let mut rest = name;
    loop {
        if rest.len() == ancestor.len() {
            return rest.eq_ignore_ascii_case(ancestor);
        }
        if rest.len() < ancestor.len() {
            return false;
        }
        match rest.split_first() {
            Some((&len, tail)) if len != 0 && (len as usize) <= tail.len() => {
                rest = &tail[len as usize..];
            }
            _ => return false,
        }
    }
}

/// Returns the suffix of `name` that drops its first `n` labels.
pub fn strip_labels(name: &[u8], n: usize) -> &[u8] {
    let mut rest = name;
    for _ in 0..n {
        match rest.split_first() {
            Some((&len, tail)) if len != 0 && (len as usize) <= tail.len() => {
                rest = &tail[len as usize..];
            }
            _ => break,
        }
    }
    rest
}

/// Lower-cases a wire name in place.
pub fn make_lowercase(name: &mut [u8]) {
    let mut pos = 0;
    while let Some(&len) = name.get(pos) {
        if len == 0 {
            break;
        }
        let end = (pos + 1 + len as usize).min(name.len());
        if let Some(label) = name.get_mut(pos + 1..end) {
            label.make_ascii_lowercase();
        }
        pos = end;
    }
}

/// Presentation form of a wire name, for logs and errors.
pub fn display(name: &[u8]) -> String {
    if name.first() == Some(&0) {
        return ".".into();
    }
    let mut out = String::with_capacity(name.len() + 1);
    for label in labels(name) {
        for &b in label {
            match b {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x21..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\{:03}", b)),
            }
        }
        out.push('.');
    }
    out
}

/// A name's lookup key in a fixed buffer, with the key length at the end of
/// each label, so that `prefix(d)` is the key of the ancestor with `d`
/// labels. Built on the stack on the query path: no allocation.
pub struct KeyBuf {
    buf: [u8; MAX_KEY_LEN],
    len: usize,
    /// `ends[d]` = key length of the ancestor with `d + 1` labels.
    ends: [u16; MAX_LABELS],
    labels: usize,
}

impl KeyBuf {
    /// Builds the key of a valid wire name; `None` if it is not one.
    pub fn new(name: &[u8]) -> Option<KeyBuf> {
        let mut starts = [0u8; MAX_LABELS];
        let mut count = 0usize;
        let mut pos = 0usize;
        loop {
            let len = *name.get(pos)? as usize;
            if len == 0 {
                break;
            }
            if len > 63 || count == MAX_LABELS || pos + 1 + len >= MAX_NAME_LEN {
                return None;
            }
            starts[count] = pos as u8;
            count += 1;
            pos += 1 + len;
        }
        if name.len() <= pos {
            return None;
        }
        let mut key = KeyBuf {
            buf: [0; MAX_KEY_LEN],
            len: 0,
            ends: [0; MAX_LABELS],
            labels: count,
        };
        // The name is at most 255 octets, so its key (each octet at most
        // doubled) fits MAX_KEY_LEN: the indexing below cannot go out of
        // bounds.
        let mut at = 0usize;
        for (depth, &start) in starts[..count].iter().rev().enumerate() {
            let start = start as usize;
            let len = name[start] as usize;
            for &b in &name[start + 1..start + 1 + len] {
                if b <= 1 {
                    key.buf[at] = 1;
                    key.buf[at + 1] = b + 1;
                    at += 2;
                } else {
                    key.buf[at] = b.to_ascii_lowercase();
                    at += 1;
                }
            }
            key.buf[at] = 0;
            at += 1;
            key.ends[depth] = at as u16;
        }
        key.len = at;
        Some(key)
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Number of labels of the name, root excluded.
    pub fn labels(&self) -> usize {
        self.labels
    }

    /// Key of the ancestor with `depth` labels (0 = root).
    pub fn prefix(&self, depth: usize) -> &[u8] {
        match depth {
            0 => &[],
            d => {
                let end = self.ends.get(d - 1).copied().unwrap_or(self.len as u16);
                &self.buf[..(end as usize).min(self.len)]
            }
        }
    }
}

/// Key of a name as an owned value (for building the store, not queries).
pub fn key_of(name: &[u8]) -> Option<Box<[u8]>> {
    KeyBuf::new(name).map(|k| k.as_slice().into())
}

/// The labels of a key whose labels hold no escaped octet, leftmost
/// first; `None` when some label does. Octets 0 and 1 inside labels are
/// escaped with a 1 and are rare: a key without any is its labels in
/// reverse, each a plain run between terminators, copied whole.
fn plain_labels(key: &[u8]) -> Option<impl Iterator<Item = &[u8]>> {
    if memchr::memchr(1, key).is_some() {
        return None;
    }
    let mut rest = key;
    Some(std::iter::from_fn(move || {
        let (&0, head) = rest.split_last()? else {
            return None;
        };
        let start = memchr::memrchr(0, head).map_or(0, |z| z + 1);
        rest = head.get(..start).unwrap_or_default();
        head.get(start..)
    }))
}

/// Turns a key back into a lower-case wire name in a fixed buffer (the
/// query path: no allocation); returns its length, `None` if the key is
/// not one of a valid name.
pub fn name_from_key_into(key: &[u8], out: &mut [u8; MAX_NAME_LEN]) -> Option<usize> {
    if let Some(labels) = plain_labels(key) {
        let mut at = 0;
        for label in labels {
            let end = at + 1 + label.len();
            *out.get_mut(at)? = u8::try_from(label.len()).ok()?;
            out.get_mut(at + 1..end)?.copy_from_slice(label);
            at = end;
        }
        *out.get_mut(at)? = 0;
        return Some(at + 1);
    }
    let mut bounds: [(u16, u16); MAX_LABELS] = [(0, 0); MAX_LABELS];
    let mut n = 0;
    let mut start = 0usize;
    let mut i = 0usize;
    while i < key.len() {
        match key.get(i) {
            Some(0) => {
                *bounds.get_mut(n)? = (start as u16, i as u16);
                n += 1;
                i += 1;
                start = i;
            }
            Some(1) => i += 2,
            _ => i += 1,
        }
    }
    let mut at = 0usize;
    for &(s, e) in bounds.get(..n)?.iter().rev() {
        let len_pos = at;
        at += 1;
        let mut j = s as usize;
        while j < e as usize {
            let octet = match key.get(j)? {
                1 => {
                    j += 2;
                    key.get(j - 1)?.checked_sub(1)?
                }
                &b => {
                    j += 1;
                    b
                }
            };
            *out.get_mut(at)? = octet;
            at += 1;
        }
        *out.get_mut(len_pos)? = u8::try_from(at - len_pos - 1).ok()?;
    }
    *out.get_mut(at)? = 0;
    Some(at + 1)
}

/// Turns a key back into a lower-case wire name.
pub fn name_from_key(key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    // An AXFR out turns every node's key into its owner (the byte-by-byte
    // walk below was 17% of a transfer's CPU).
    if let Some(labels) = plain_labels(key) {
        out.reserve(key.len() + 1);
        for label in labels {
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
        return;
    }
    // Collect label boundaries, then emit them in reverse (leftmost first).
    let mut bounds: [(u16, u16); MAX_LABELS] = [(0, 0); MAX_LABELS];
    let mut n = 0;
    let mut start = 0usize;
    let mut i = 0usize;
    while i < key.len() && n < MAX_LABELS {
        match key[i] {
            0 => {
                bounds[n] = (start as u16, i as u16);
                n += 1;
                i += 1;
                start = i;
            }
            1 => i += 2,
            _ => i += 1,
        }
    }
    for &(s, e) in bounds[..n].iter().rev() {
        let len_pos = out.len();
        out.push(0);
        let mut j = s as usize;
        while j < e as usize {
            match key[j] {
                1 => {
                    out.push(key.get(j + 1).copied().unwrap_or(1) - 1);
                    j += 2;
                }
                b => {
                    out.push(b);
                    j += 1;
                }
            }
        }
        out[len_pos] = (out.len() - len_pos - 1) as u8;
    }
    out.push(0);
}

/// A wire name from plain dotted text (no escapes), for tests.
#[cfg(test)]
pub(crate) fn test_wire(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in s.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_wire as wire;

    #[test]
    fn keys_sort_in_canonical_order() {
        // The example ordering of RFC 4034 §6.1.
        let names = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "*.z.example.",
        ];
        let mut keyed: Vec<_> = names.iter().map(|n| key_of(&wire(n)).unwrap()).collect();
        let before = keyed.clone();
        keyed.sort();
        assert_eq!(keyed, before);
        // \001 and \200 labels from the RFC example sort around '*'.
        let a = key_of(&[
            1, 1, 1, b'z', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0,
        ])
        .unwrap();
        let b = key_of(&wire("*.z.example.")).unwrap();
        let c = key_of(&[
            1, 200, 1, b'z', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0,
        ])
        .unwrap();
        assert!(a < b && b < c, "\\001.z < *.z < \\200.z");
    }

    #[test]
    fn ancestor_key_is_prefix() {
        let k = KeyBuf::new(&wire("www.Example.com.")).unwrap();
        assert_eq!(k.labels(), 3);
        assert_eq!(k.prefix(2), &*key_of(&wire("example.com.")).unwrap());
        assert_eq!(k.prefix(0), b"");
        assert_eq!(k.prefix(3), k.as_slice());
    }

    #[test]
    fn key_round_trips_to_lowercase_name() {
        let n = [3, b'W', 0, 1, 1, 0x01, 3, b'c', b'o', b'm', 0];
        let k = key_of(&n).unwrap();
        let mut out = Vec::new();
        name_from_key(&k, &mut out);
        assert_eq!(out, vec![3, b'w', 0, 1, 1, 0x01, 3, b'c', b'o', b'm', 0]);
    }

    #[test]
    fn keys_with_and_without_escapes_turn_back_into_their_names() {
        let mut rng = crate::testing::Rng(0x5EED_0000_1234_5678);
        let (mut out, mut fixed) = (Vec::new(), [0u8; MAX_NAME_LEN]);
        for round in 0..3000 {
            let mut name = Vec::new();
            // Every hundredth name has long labels (at most three: the
            // name stays within 255 octets).
            let long = round % 100 == 0;
            for _ in 0..rng.below(if long { 4 } else { 6 }) {
                let len = 1 + rng.below(if long { 63 } else { 12 });
                name.push(len as u8);
                for _ in 0..len {
                    // Now and then the octets a key escapes (0 and 1).
                    let b = match rng.below(40) {
                        0 => 0,
                        1 => 1,
                        _ => b'a' + rng.below(26) as u8,
                    };
                    name.push(b);
                }
            }
            name.push(0);
            let key = key_of(&name).expect("a valid name");
            name_from_key(&key, &mut out);
            assert_eq!(out, name, "{key:?}");
            let n = name_from_key_into(&key, &mut fixed).expect("a valid key");
            assert_eq!(&fixed[..n], &name[..], "{key:?}");
        }
    }

    #[test]
    fn subdomain_and_strip() {
        let n = wire("a.b.example.com.");
        assert!(is_subdomain(&n, &wire("EXAMPLE.com.")));
        assert!(is_subdomain(&n, ROOT));
        assert!(!is_subdomain(&n, &wire("xample.com.")));
        assert_eq!(strip_labels(&n, 2), &wire("example.com.")[..]);
        assert_eq!(display(&n), "a.b.example.com.");
        assert_eq!(wire_len(&n), Some(n.len()));
        assert_eq!(wire_len(&[3, b'a']), None);
    }
}
