//! `zonesync keygen`: a fresh TSIG secret, printed for our configuration
//! and for BIND/Knot.

use super::{key_name, Algorithm, TsigError, TsigKey};

/// Makes a key with a random secret as long as the algorithm's digest
/// (RFC 8945 §6: shorter keys weaken the MAC, longer ones add nothing) and
/// returns it as text: our `[[key]]` TOML table, then BIND's `key`
/// statement as TOML comments, so the whole text can be appended to our
/// configuration as is.
pub fn keygen(name: &str, algorithm: Algorithm) -> Result<String, TsigError> {
    key_name(name)?;
    let mut secret = vec![0u8; algorithm.digest_len()];
    fill_random(&mut secret)?;
    let key = TsigKey {
        name: name.to_owned(),
        algorithm,
        secret,
    };
    let bind: String = key
        .to_bind()
        .lines()
        .map(|line| format!("# {line}\n"))
        .collect();
    Ok(format!(
        "{}\n# The same key for BIND (named.conf):\n{bind}",
        key.to_toml()
    ))
}

impl TsigKey {
    /// This key as our configuration's `[[key]]` table. Key names are
    /// checked to letters, digits, '-', '_' and '.', so need no escaping.
    pub fn to_toml(&self) -> String {
        format!(
            "[[key]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{}\"\n",
            self.name,
            self.algorithm,
            self.secret_base64()
        )
    }

    /// This key as BIND's `key` statement.
    pub fn to_bind(&self) -> String {
        format!(
            "key \"{}\" {{\n\talgorithm {};\n\tsecret \"{}\";\n}};\n",
            self.name,
            self.algorithm,
            self.secret_base64()
        )
    }
}

/// Fills `buf` from the kernel's CSPRNG. `ring`'s `SystemRandom` (the one
/// `domain` uses) reads the same source, but `ring` is not a direct
/// dependency of ours; `getrandom(2)` through `libc` is.
fn fill_random(buf: &mut [u8]) -> Result<(), TsigError> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        // SAFETY: the pointer and length describe `rest`, which is valid
        // for writes for its whole length.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(n) {
            Ok(n) => filled += n,
            Err(_) => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(TsigError::Random(error));
                }
            }
        }
    }
    Ok(())
}
