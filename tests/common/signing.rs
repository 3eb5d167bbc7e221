//! Signing zones at test time and validating answers with a validator we
//! did not write.
//!
//! - [`ZoneKeys`]: a KSK and a ZSK made by `ldns-keygen` (ldnsutils) or
//!   `dnssec-keygen` (bind9-utils) in a directory of their own; a zone is
//!   signed with them by `ldns-signzone` or `dnssec-signzone` as often as
//!   a test likes ([`ZoneKeys::sign`]: new signatures, same keys, so one
//!   trust anchor validates every version).
//! - [`Signer`], [`Denial`], [`ALGORITHMS`]: what the tests vary.
//! - [`Delv`]: `delv` (bind9-dnsutils) asking one server, with the zone's
//!   KSK as its only trust anchor; [`DelvResult::verdict`] is the first
//!   `; ` line it prints (`; fully validated`, `; negative response, fully
//!   validated`, `; unsigned answer`, ...).
//!
//! A missing tool fails the test ([`require_tool`]); every run is bounded.

use super::*;

/// Who signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signer {
    /// `ldns-keygen` and `ldns-signzone` (ldnsutils).
    Ldns,
    /// `dnssec-keygen` and `dnssec-signzone` (bind9-utils).
    Bind,
}

impl Signer {
    pub fn name(self) -> &'static str {
        match self {
            Signer::Ldns => "ldns",
            Signer::Bind => "bind",
        }
    }
}

/// How the signed zone denies existence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Denial {
    Nsec,
    /// NSEC3, SHA-1, the given salt (hex) and iterations, no opt-out.
    Nsec3,
    /// NSEC3 with opt-out (every NSEC3 record has the opt-out flag; BIND
    /// also leaves unsigned delegations and the empty non-terminals only
    /// they need out of the chain).
    Nsec3OptOut,
}

impl Denial {
    pub fn name(self) -> &'static str {
        match self {
            Denial::Nsec => "nsec",
            Denial::Nsec3 => "nsec3",
            Denial::Nsec3OptOut => "nsec3-optout",
        }
    }

    pub fn is_nsec3(self) -> bool {
        self != Denial::Nsec
    }
}

/// The algorithms the tests sign with: number and mnemonic (RFC 8624).
pub const ALGORITHMS: [(u8, &str); 3] =
    [(8, "RSASHA256"), (13, "ECDSAP256SHA256"), (15, "ED25519")];

/// The number of an algorithm of [`ALGORITHMS`].
pub fn algorithm_number(mnemonic: &str) -> u8 {
    ALGORITHMS
        .iter()
        .find(|(_, m)| *m == mnemonic)
        .map(|(n, _)| *n)
        .unwrap_or_else(|| panic!("unknown algorithm {mnemonic}"))
}

/// Unix time now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// NSEC3 parameters of every NSEC3 zone the tests sign.
#[derive(Clone, Debug)]
pub struct Nsec3Params {
    /// Hex, as the signers take it; `-` for none.
    pub salt: String,
    pub iterations: u16,
}

impl Nsec3Params {
    /// `-` (as `dnssec-signzone` takes it) or empty: no salt.
    pub fn has_no_salt(&self) -> bool {
        self.salt.is_empty() || self.salt == "-"
    }
}

impl Default for Nsec3Params {
    fn default() -> Self {
        Nsec3Params {
            salt: "abcd".into(),
            iterations: 2,
        }
    }
}

/// Runs a signing tool in `dir` (bounded); panics with its output if it
/// fails. Returns its stdout.
pub fn run_tool(dir: &Path, tool: &str, package: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(require_tool(tool, package));
    cmd.current_dir(dir).args(args);
    let out = run_with_timeout(cmd, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{tool} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} in {} failed ({}):\n{}{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A KSK and a ZSK for one zone, in their own directory.
#[derive(Clone, Debug)]
pub struct ZoneKeys {
    pub signer: Signer,
    /// Mnemonic, e.g. "ECDSAP256SHA256".
    pub algorithm: &'static str,
    /// Without the final dot.
    pub origin: String,
    /// Where the keys (and the zone files being signed) are.
    pub dir: PathBuf,
    /// The key files' base name (`Kzone.+alg+id`) of the ZSK and the KSK.
    zsk: String,
    ksk: String,
}

impl ZoneKeys {
    /// Makes a KSK and a ZSK for `origin` in a new directory `dir/keys-N`.
    pub fn generate(dir: &Path, origin: &str, signer: Signer, algorithm: &'static str) -> ZoneKeys {
        static N: AtomicUsize = AtomicUsize::new(0);
        let origin = origin.trim_end_matches('.').to_string();
        let work = dir.join(format!(
            "keys-{}-{}-{origin}-{}",
            signer.name(),
            algorithm,
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{}: {e}", work.display()));
        let rsa = algorithm.starts_with("RSA");
        let mut made = Vec::new();
        for ksk in [false, true] {
            let mut args: Vec<&str> = Vec::new();
            match signer {
                Signer::Ldns => {
                    args.extend(["-a", algorithm]);
                    if rsa {
                        args.extend(["-b", "2048"]);
                    }
                    if ksk {
                        args.push("-k");
                    }
                    args.push(&origin);
                    made.push(run_tool(&work, "ldns-keygen", "ldnsutils", &args));
                }
                Signer::Bind => {
                    args.extend(["-q", "-K", ".", "-a", algorithm, "-n", "ZONE"]);
                    if rsa {
                        args.extend(["-b", "2048"]);
                    }
                    if ksk {
                        args.extend(["-f", "KSK"]);
                    }
                    args.push(&origin);
                    made.push(run_tool(&work, "dnssec-keygen", "bind9-utils", &args));
                }
            }
        }
        let base = |out: &str| {
            let b = out
                .trim()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            assert!(
                work.join(format!("{b}.key")).is_file(),
                "{signer:?} key generation printed {out:?}, no such key file in {}",
                work.display()
            );
            b
        };
        let keys = ZoneKeys {
            signer,
            algorithm,
            origin,
            zsk: base(&made[0]),
            ksk: base(&made[1]),
            dir: work,
        };
        let (flags, _, alg, _) = keys.ksk_dnskey();
        assert_eq!(flags, 257, "the KSK has the SEP flag");
        assert_eq!(alg, algorithm_number(algorithm));
        keys
    }

    /// The KSK's DNSKEY RDATA from its `.key` file: flags, protocol,
    /// algorithm, public key (base64). ldns writes `owner IN DNSKEY 257 3
    /// ALG KEY ;{comment}`, BIND `; comments` then `owner [TTL] IN DNSKEY
    /// 257 3 ALG KEY...` (the key possibly in several words): the fields
    /// after `DNSKEY` are read, up to a `;`.
    pub fn ksk_dnskey(&self) -> (u16, u8, u8, String) {
        let path = self.dir.join(format!("{}.key", self.ksk));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in text.lines() {
            let line = line.split(';').next().unwrap_or_default();
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| *w == "DNSKEY") else {
                continue;
            };
            let rest = &words[at + 1..];
            assert!(
                rest.len() >= 4,
                "short DNSKEY in {}: {line}",
                path.display()
            );
            return (
                rest[0].parse().expect("DNSKEY flags"),
                rest[1].parse().expect("DNSKEY protocol"),
                rest[2].parse().expect("DNSKEY algorithm"),
                rest[3..].concat(),
            );
        }
        panic!("no DNSKEY record in {}:\n{text}", path.display());
    }

    /// The SHA-256 DS record of the KSK, as the parent publishes it
    /// (`owner TTL IN DS tag alg 2 digest`), made by `dnssec-dsfromkey`
    /// (bind9-utils) from the key file, whoever generated it.
    pub fn ds(&self) -> String {
        let key = format!("{}.key", self.ksk);
        let out = run_tool(&self.dir, "dnssec-dsfromkey", "bind9-utils", &["-2", &key]);
        let line = out
            .lines()
            .find(|l| l.contains(" DS "))
            .unwrap_or_else(|| panic!("no DS from dnssec-dsfromkey {key}: {out}"));
        line.trim().to_string()
    }

    /// A `trust-anchors` clause (BIND syntax, for `delv -a`) holding the
    /// KSK as a static key of the zone.
    pub fn trust_anchor(&self) -> String {
        let (flags, protocol, alg, key) = self.ksk_dnskey();
        format!(
            "trust-anchors {{\n    {}. static-key {flags} {protocol} {alg} \"{key}\";\n}};\n",
            self.origin
        )
    }

    /// Writes [`ZoneKeys::trust_anchor`] to `path`.
    pub fn write_trust_anchor(&self, path: &Path) -> PathBuf {
        write_file(path, self.trust_anchor().as_bytes())
    }

    /// Signs `zone` (master-file text without DNSKEY records; the keys are
    /// added) with these keys; signatures valid from `inception` to
    /// `expiration` (Unix times). Returns the signed text, one record per
    /// line with its owner, as both signers write it.
    pub fn sign(
        &self,
        zone: &str,
        denial: Denial,
        nsec3: &Nsec3Params,
        inception: u64,
        expiration: u64,
    ) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let (input, output) = (format!("zone-{n}"), format!("signed-{n}"));
        write_file(&self.dir.join(&input), zone.as_bytes());
        let (i, e) = (inception.to_string(), expiration.to_string());
        let iterations = nsec3.iterations.to_string();
        match self.signer {
            Signer::Ldns => {
                let mut args = vec!["-o", &self.origin, "-i", &i, "-e", &e, "-f", &output];
                if denial.is_nsec3() {
                    args.extend(["-n", "-t", &iterations]);
                    // ldns takes hex only; without -s the salt is empty.
                    if !nsec3.has_no_salt() {
                        args.extend(["-s", &nsec3.salt]);
                    }
                }
                if denial == Denial::Nsec3OptOut {
                    args.push("-p");
                }
                args.extend([input.as_str(), &self.zsk, &self.ksk]);
                run_tool(&self.dir, "ldns-signzone", "ldnsutils", &args);
            }
            Signer::Bind => {
                // -S: the keys from -K; -O full: one record per line with
                // its owner; -P: no post-signing verification (some tests
                // sign zones that are wrong on purpose).
                let mut args = vec![
                    "-q",
                    "-S",
                    "-P",
                    "-K",
                    ".",
                    "-O",
                    "full",
                    "-o",
                    &self.origin,
                    "-f",
                    &output,
                    "-s",
                    &i,
                    "-e",
                    &e,
                ];
                let salt = if nsec3.has_no_salt() {
                    "-"
                } else {
                    &nsec3.salt
                };
                if denial.is_nsec3() {
                    args.extend(["-3", salt, "-H", &iterations]);
                }
                if denial == Denial::Nsec3OptOut {
                    args.push("-A");
                }
                args.push(&input);
                run_tool(&self.dir, "dnssec-signzone", "bind9-utils", &args);
            }
        }
        let path = self.dir.join(&output);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// The owners of the records of `rtype` (a mnemonic) in signed text, as
/// written (one record per line, owner first, as [`ZoneKeys::sign`]
/// returns it), lower-cased, without duplicates, in file order.
pub fn owners_of_type(signed: &str, rtype: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in signed.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.starts_with(';') || w.starts_with('$'))
        {
            continue;
        }
        // owner [ttl] [class] TYPE ...
        let ty = words
            .iter()
            .skip(1)
            .take(3)
            .find(|w| !w.chars().all(|c| c.is_ascii_digit()) && **w != "IN");
        if ty == Some(&rtype) {
            let owner = words[0].to_ascii_lowercase();
            if !out.contains(&owner) {
                out.push(owner);
            }
        }
    }
    out
}

/// `delv` asking one server, with one zone's KSK as its trust anchor.
#[derive(Clone, Debug)]
pub struct Delv {
    pub server: SocketAddr,
    /// The trust anchor file.
    pub anchors: PathBuf,
    /// The zone the anchor is for (`+root=ZONE`).
    pub zone: String,
}

/// What delv said.
#[derive(Clone, Debug)]
pub struct DelvResult {
    /// The command line, for failure messages.
    pub command: String,
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl DelvResult {
    /// The first line of stdout that starts with `; ` (delv's verdict on
    /// the first RRset: `; fully validated`, `; negative response, fully
    /// validated`, `; unsigned answer`, ...), or "" when there is none.
    pub fn verdict(&self) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with("; "))
            .unwrap_or("")
    }

    /// Every verdict line, in order: lines starting with `; ` whose first
    /// word is not an owner name (delv comments the records of a negative
    /// answer as `; owner. TYPE ...`). A CNAME chain has one per step.
    pub fn verdicts(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| {
                l.strip_prefix("; ")
                    .and_then(|rest| rest.split_whitespace().next())
                    .is_some_and(|w| !w.ends_with('.'))
            })
            .collect()
    }

    /// Everything, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "$ {}\nexit {:?}\n{}{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

impl Delv {
    /// Writes `keys`' trust anchor into `dir` and returns a `delv` for
    /// `server`.
    pub fn new(server: SocketAddr, keys: &ZoneKeys, dir: &Path) -> Delv {
        let anchors = keys.write_trust_anchor(&dir.join(format!("anchor-{}.conf", keys.origin)));
        Delv {
            server,
            anchors,
            zone: keys.origin.clone(),
        }
    }

    /// The same anchor, another server.
    pub fn at(&self, server: SocketAddr) -> Delv {
        Delv {
            server,
            ..self.clone()
        }
    }

    /// `delv @IP -p PORT -a ANCHORS +root=ZONE NAME TYPE` (bounded).
    pub fn ask(&self, name: &str, rtype: &str) -> DelvResult {
        let delv = require_tool("delv", "bind9-dnsutils");
        let root = format!("+root={}", self.zone);
        let server = format!("@{}", self.server.ip());
        let port = self.server.port().to_string();
        let anchors = self.anchors.display().to_string();
        let args = [
            server.as_str(),
            "-p",
            &port,
            "-a",
            &anchors,
            &root,
            name,
            rtype,
        ];
        let mut cmd = Command::new(&delv);
        cmd.args(args);
        let command = format!("delv {}", args.join(" "));
        match run_with_timeout(cmd, Duration::from_secs(30)) {
            Ok(out) => DelvResult {
                command,
                status: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
            Err(e) => DelvResult {
                command,
                status: None,
                stdout: String::new(),
                stderr: e,
            },
        }
    }
}

/// Whether a line is the record `owner TYPE`, or `owner RRSIG TYPE` for
/// `t` = "RRSIG TYPE".
pub fn is_record(l: &str, owner: &str, t: &str) -> bool {
    let f: Vec<&str> = l.split_whitespace().collect();
    match (f.as_slice(), t.strip_prefix("RRSIG ")) {
        ([o, _, _, "RRSIG", covered, ..], Some(c)) => {
            o.eq_ignore_ascii_case(owner) && *covered == c
        }
        ([o, _, _, ty, ..], None) => o.eq_ignore_ascii_case(owner) && *ty == t,
        _ => false,
    }
}

/// Changes one base64 character in the middle of the signature of the
/// RRSIG over `owner TYPE`.
pub fn flip_signature(text: &str, owner: &str, t: &str) -> String {
    let rrsig = format!("RRSIG {t}");
    let mut flipped = 0;
    let out: String = text
        .lines()
        .map(|l| {
            if flipped == 0 && is_record(l, owner, &rrsig) {
                flipped += 1;
                // The last field is (the end of) the signature.
                let at = l.trim_end().len() - 10;
                let c = if l.as_bytes()[at] == b'A' { 'B' } else { 'A' };
                format!("{}{c}{}\n", &l[..at], &l[at + 1..])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(flipped, 1, "no RRSIG {t} at {owner}");
    out
}
