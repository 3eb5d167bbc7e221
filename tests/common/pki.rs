//! Certificates for the TLS tests (XoT, RFC 9103), made at test time
//! with `openssl`.

use super::*;
use std::process::Command;
use std::time::Duration;

/// How long one openssl run may take.
const OPENSSL_LIMIT: Duration = Duration::from_secs(40);

/// The certificates of a test, in a directory of their own, made by
/// `openssl`: CAs `ca` and `other-ca`; signed by `ca`, `server` (for
/// 127.0.0.1), `ns1` (for ns1.example.com and 127.0.0.1), clients
/// `client` and `client2`, and `expired` (127.0.0.1, one day of 2020);
/// `stranger`, a client of `other-ca`. Each `NAME.pem` with `NAME.key`.
pub struct Pki {
    dir: TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let pki = Pki {
            dir: TempDir::new("xot-pki"),
        };
        pki.ca("ca");
        pki.ca("other-ca");
        pki.leaf(
            "ca",
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        );
        pki.leaf(
            "ca",
            "ns1",
            "subjectAltName=DNS:ns1.example.com,IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        );
        pki.leaf("ca", "client", "extendedKeyUsage=clientAuth");
        pki.leaf("ca", "client2", "extendedKeyUsage=clientAuth");
        pki.leaf("other-ca", "stranger", "extendedKeyUsage=clientAuth");
        pki.expired_server();
        pki
    }

    /// `name.pem`, `name.key`, … in the directory.
    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn openssl(&self, args: &[&str]) {
        let mut cmd = Command::new("openssl");
        cmd.args(args).current_dir(self.dir.path());
        let out = run_with_timeout(cmd, OPENSSL_LIMIT).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed (is openssl installed? scripts/install-test-deps.sh):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A self-signed CA, `name.pem`, valid for 30 days.
    fn ca(&self, name: &str) {
        self.new_key(name, &["-x509", "-days", "30"], "pem");
    }

    /// A key and a signing request for `name`.
    fn request(&self, name: &str) {
        self.new_key(name, &[], "csr");
    }

    /// `openssl req` making `name.key` (EC P-256) and `name.EXT` for the
    /// subject CN=`name`, with `args`.
    fn new_key(&self, name: &str, args: &[&str], ext: &str) {
        let (key, out, subject) = (
            format!("{name}.key"),
            format!("{name}.{ext}"),
            format!("/CN={name}"),
        );
        let mut all = vec!["req"];
        all.extend(args);
        all.extend([
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &out,
            "-subj",
            &subject,
        ]);
        self.openssl(&all);
    }

    /// `name.pem` signed by `ca`, valid for 30 days, with `extensions`.
    fn leaf(&self, ca: &str, name: &str, extensions: &str) {
        self.request(name);
        let ext = self.dir.write(
            &format!("{name}.ext"),
            format!("{extensions}\nbasicConstraints=CA:FALSE\n"),
        );
        let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &ext.display().to_string(),
            "-out",
            &format!("{name}.pem"),
        ]);
    }

    /// `expired.pem`: the server's name, valid for one day in 2020.
    /// `openssl x509` of OpenSSL 3.0 cannot date a certificate in the
    /// past; `openssl ca` can.
    fn expired_server(&self) {
        self.request("expired");
        self.dir.write("db/index.txt", "");
        self.dir.write("db/serial", "01\n");
        self.dir.write(
            "ca.cnf",
            "[ca]\ndefault_ca = test\n[test]\ndatabase = db/index.txt\nserial = db/serial\n\
             new_certs_dir = db\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
             [any]\ncommonName = supplied\n[server]\nsubjectAltName = IP:127.0.0.1\n\
             extendedKeyUsage = serverAuth\nbasicConstraints = CA:FALSE\n",
        );
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            "expired.csr",
            "-out",
            "expired.pem",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-extensions",
            "server",
            "-notext",
        ]);
    }

    /// The SHA-256 SPKI pin of `name.pem`, as RFC 7469 writes it.
    pub fn pin(&self, name: &str) -> String {
        let script = format!(
            "openssl x509 -in {name}.pem -pubkey -noout | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | base64"
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]).current_dir(self.dir.path());
        let out = run_with_timeout(cmd, OPENSSL_LIMIT).unwrap_or_else(|e| panic!("{e}"));
        let pin = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(pin.len(), 44, "pin of {name}: {pin:?}");
        pin
    }
}
