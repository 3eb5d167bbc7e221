//! The configuration reference: every table and key of the file, its type,
//! default and meaning. One source for three readers, so they cannot drift
//! apart: `check-config` (an unknown key is one not listed here, reported
//! with its line), `docs/config.md` and the zonesync.toml(5) man page
//! (both generated from this table; a test keeps the committed copy
//! current and another compares the keys with what the parser accepts).

/// One table of the file (`[server]`, `[[zone]]`) or a table written
/// inline in a list (`zone.primaries`).
pub struct Table {
    /// Dotted path from the top: "server", "zone.primaries".
    pub path: &'static str,
    /// How it is written: "[server]", "[[zone]]", "primaries = [ { … } ]".
    pub syntax: &'static str,
    pub doc: &'static str,
    pub keys: &'static [Key],
}

pub struct Key {
    pub name: &'static str,
    /// The TOML type and what the text must be.
    pub kind: &'static str,
    /// The value when the key is absent; "required" when it must be given.
    pub default: &'static str,
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    kind: &'static str,
    default: &'static str,
    doc: &'static str,
) -> Key {
    Key {
        name,
        kind,
        default,
        doc,
    }
}

/// `[[template]]` takes the keys of `[[zone]]`: its tables are found
/// under this path.
pub const TEMPLATE_AS: (&str, &str) = ("template", "zone");

/// The tables in the order the reference presents them.
pub const TABLES: &[Table] = &[
    Table {
        path: "",
        syntax: "(top level)",
        doc: "The file holds these tables; all are optional, but a server without zones answers nothing.",
        keys: &[
            key("server", "table", "", "Process-wide settings: listeners, limits, timers of secondaries."),
            key("key", "array of tables", "", "TSIG keys (RFC 8945)."),
            key("zone", "array of tables", "", "The zones served."),
            key("template", "array of tables", "", "Zone settings without a zone, for zones added at run time (`zonesync ctl zone-add`, catalog members)."),
            key("monitor", "table", "", "Watch nameservers from this process too (the settings of `zonesync monitor`)."),
            key("rrl", "table", "", "Response rate limiting of UDP answers (off unless `rate` is set)."),
        ],
    },
    Table {
        path: "server",
        syntax: "[server]",
        doc: "Settings of the whole process.",
        keys: &[
            key("listen", "array of \"ADDR:PORT\"", "[]", "Addresses to answer on, UDP and TCP each; `serve --listen` replaces them."),
            key("tls_listen", "array of \"ADDR:PORT\"", "[]", "Addresses to answer on over TLS 1.3 (port 853 by convention): zone transfers (XoT, RFC 9103) and queries, as DNS over TLS (RFC 7858), with ALPN \"dot\" (a client offering ALPN without \"dot\" is refused). Needs `tls_certificate` and `tls_key`; not an address of `listen`."),
            key("tls_certificate", "path", "unset", "The TLS listener's certificate chain (PEM, the server's certificate first), read at start (before root is dropped). Relative to the configuration file."),
            key("tls_key", "path", "unset", "The private key of `tls_certificate` (PEM: PKCS#8, PKCS#1 or SEC1)."),
            key("tls_client_ca", "path", "unset", "CA certificates (PEM) for mutual TLS (RFC 9103 section 9.3.3): clients are asked for a certificate, and one presented must chain to these (else the handshake fails). Presenting none is allowed at the handshake: `allow_transfer` rules with `client_cert` or `cert` require one."),
            key("data_dir", "path", "\"data\"", "Where state that outlives a restart is kept: journals, transferred zones, timers, the cookie secret. Relative to the configuration file."),
            key("user", "string", "unset", "Drop to this user after the listeners are bound (like NSD's `username`), so port 53 can be bound as root and served without root. Running as root without `user` is refused unless `serve --allow-root` is given."),
            key("group", "string", "the user's group", "The group to drop to with `user`."),
            key("edns_udp_max", "integer", "1232", "EDNS UDP payload size offered, and the largest UDP response sent (at least 512)."),
            key("nsid", "string", "unset", "NSID (RFC 5001) sent to clients that ask; 1 to 255 octets."),
            key("cookies", "boolean", "true", "DNS COOKIE (RFC 7873, RFC 9018 server cookies) on requests that carry one."),
            key("cookie_secret", "string of 32 hex digits", "made at first start", "The 128-bit server cookie secret; every server of an anycast set needs the same one. Unset: one is made and kept in `data_dir/cookie_secret`."),
            key("udp_workers", "integer", "0", "UDP sockets (and threads) per address; 0 = one per CPU core."),
            key("tcp_max_connections", "integer", "256", "Most TCP and TLS connections open at once, over every listener; more are closed at accept."),
            key("tcp_max_connections_per_client", "integer", "32", "Most TCP and TLS connections one client may have open at once, counted per IPv4 address or IPv6 /64 across every listener; more are closed at accept, while other clients still connect. 0 = no cap."),
            key("tcp_idle_timeout", "integer (seconds)", "10", "How long a TCP connection may stay idle between queries."),
            key("transfer_limit", "integer", "10", "Zone transfers out (AXFR/IXFR) served at once; more are answered SERVFAIL (the secondary retries later)."),
            key("transfer_limit_per_client", "integer", "0", "Zone transfers out served at once to one client (IPv4 address or IPv6 /64); more are answered SERVFAIL like those over `transfer_limit`. 0 = no cap (transfers go only to `allow_transfer` clients, and a secondary may rightly run several at once); set it when transfers are open to many, e.g. 2 (as BIND's `transfers-per-ns` on the secondary's side)."),
            key("refresh_limit", "integer", "10", "Secondary zones refreshing (SOA check, transfer in) at once, server-wide, like BIND's `transfers-in`."),
            key("notify_delay_ms", "integer (milliseconds)", "100", "Wait after a change before sending NOTIFY, so a burst of changes makes one round."),
            key("notify_retries", "integer", "5", "NOTIFY sends per target beyond the first (time-outs 1 s, 2 s, 4 s, ...)."),
            key("notify_in_rate", "integer (per second)", "100", "NOTIFY and NOTIFY(CSYNC) accepted per second from one source (IPv4 address or IPv6 /64), in bursts of as many; more are answered REFUSED before any other work. 0 = no cap. Apart from it, NOTIFYs for one zone coalesce: a refresh they ask for starts at most once a second, and one asked while a refresh runs runs once after it."),
            key("control", "\"ADDR:PORT\"", "unset", "The HTTP control interface of `zonesync ctl`. Without `control_key` it has no authentication, so it must be a loopback address."),
            key("control_key", "string", "unset", "The name of a `[[key]]`: every control request must then be signed with it (`Authorization: Zonesync-HMAC key=\"NAME\", time=\"UNIX\", mac=\"BASE64\"`, the HMAC with the key's algorithm of `METHOD TARGET TIME`, TIME as sent: Unix seconds with up to nine decimals; `zonesync ctl --key NAME`), within 300 s of the server's clock and each MAC once, else 401; `control` may then be any address. The MAC proves who asks; the exchange is still plain HTTP, so it does not hide the answers (zone data, peer history) from anyone who can see the traffic."),
            key("journal_max_changesets", "integer", "1000", "Most changesets kept in a zone's journal; the oldest are dropped."),
            key("journal_max_bytes", "integer (bytes)", "67108864", "Most bytes a zone's journal file may hold; the oldest changesets are dropped to stay under it."),
            key("refresh_min", "integer (seconds)", "2", "Secondaries: the SOA REFRESH is clamped to at least this."),
            key("refresh_max", "integer (seconds)", "86400", "Secondaries: the SOA REFRESH is clamped to at most this."),
            key("retry_min", "integer (seconds)", "2", "Secondaries: the SOA RETRY (and its back-off) is at least this."),
            key("retry_max", "integer (seconds)", "86400", "Secondaries: the SOA RETRY back-off is at most this."),
            key("expire_min", "integer (seconds)", "3", "Secondaries: the SOA EXPIRE is at least this."),
            key("xfr_in_timeout", "integer (seconds)", "300", "Secondaries: how long a whole transfer in may take."),
            key("xfr_in_max_records", "integer", "20000000", "Secondaries: most records a transfer in may bring."),
            key("xfr_in_max_bytes", "integer (bytes)", "4294967296", "Secondaries: most bytes a transfer in may bring."),
        ],
    },
    Table {
        path: "rrl",
        syntax: "[rrl]",
        doc: "Response rate limiting (RRL) of UDP answers, like Knot's `rrl` and BIND's `rate-limit`: answers to one client prefix of one class about one name are capped per second; of the answers beyond the cap, every `slip`-th is sent truncated (TC=1, so a real client retries over TCP) and the others are dropped. Classes: positive, nodata, nxdomain (counted per zone), referral (per zone cut), wildcard (per closest encloser), large (over 1024 octets), error (per prefix). TCP, TLS, TSIG-signed requests and requests with a valid server cookie are never limited. Off by default, as in Knot and BIND: the right rate depends on the traffic a server sees, and a wrong one drops real answers. Limited answers are counted in `zonesync_rrl_limited_total`.",
        keys: &[
            key("rate", "integer (answers per second)", "0 (off)", "Answers per second per class, client prefix and name; Knot's and NSD's examples use 200. 0 turns rate limiting off."),
            key("slip", "integer", "2", "Every `slip`-th limited answer is sent truncated (TC=1), the others dropped; 1 truncates all, 0 drops all. 2, as Knot and BIND recommend, halves what an attacker reflects while a real client still gets through."),
            key("ipv4_prefix", "integer", "24", "IPv4 clients in one prefix of this length share their buckets."),
            key("ipv6_prefix", "integer", "56", "IPv6 clients in one prefix of this length share their buckets."),
            key("table_size", "integer", "393216", "Buckets in the table (rounded up to a power of two, 8 octets each); more clients limited at once than this make buckets collide."),
            key("whitelist", "array of prefixes", "[]", "Client prefixes never limited, e.g. [\"192.0.2.0/24\", \"2001:db8::/32\"]."),
            key("log_interval", "integer (seconds)", "10", "At most one log line about limiting per this many seconds, naming a client that started being limited and how many others did since the last line."),
        ],
    },
    Table {
        path: "key",
        syntax: "[[key]]",
        doc: "A TSIG key (RFC 8945). `zonesync keygen NAME` prints a new one in this form and in BIND's.",
        keys: &[
            key("name", "domain name", "required", "The key's name, as the peers know it."),
            key("algorithm", "string", "\"hmac-sha256\"", "hmac-sha1, hmac-sha256, hmac-sha384 or hmac-sha512."),
            key("secret", "base64 string", "required unless secret_file", "The shared secret."),
            key("secret_file", "path", "unset", "A file holding the secret instead (its whole text, as base64), relative to the configuration file: the configuration can then be readable by all and the secret by the server only."),
        ],
    },
    Table {
        path: "zone",
        syntax: "[[zone]]",
        doc: "A zone served as primary (from its zone file) or secondary (transferred from its primaries).",
        keys: &[
            key("name", "domain name", "required", "The zone's apex, e.g. \"example.com\"."),
            key("role", "\"primary\" or \"secondary\"", "required", "Where the zone's data comes from."),
            key("file", "path", "unset", "A primary's zone file (RFC 1035 master file), relative to the configuration file. A secondary keeps its copy under `data_dir` and has no file. In a `[[template]]`, `{zone}` stands for the zone's name."),
            key("primaries", "array of inline tables", "[]", "A secondary's primaries, tried in order."),
            key("allow_transfer", "array of inline tables", "[] (nobody)", "Who may transfer the zone (AXFR/IXFR)."),
            key("allow_notify", "array of inline tables", "[]", "Who may NOTIFY a secondary besides its primaries."),
            key("notify", "array of \"ADDR:PORT\" or inline tables", "[]", "Where to send NOTIFY (RFC 1996) after the zone changes: \"ADDR:PORT\", or { addr = \"ADDR:PORT\", key = \"NAME\" } to sign it."),
            key("notify_ns", "boolean", "false", "Also NOTIFY the addresses of the zone's NS records (glue inside the zone), on port 53, except our own listeners."),
            key("include_anywhere", "boolean", "false", "Let `$INCLUDE` read files outside the zone file's directory."),
            key("serial_policy", "\"keep\", \"increment\", \"unixtime\" or \"dateserial\"", "\"keep\"", "What a reload does when the zone's content changed but its serial did not: refuse the reload (keep), or move the serial."),
            key("dnssec_checks", "\"warn\", \"error\" or \"off\"", "\"warn\"", "What DNSSEC problems of a signed zone do at load: log a warning each, refuse the load (the old version stays served), or nothing is checked."),
            key("dnssec_verify", "boolean", "true", "Verify every RRSIG with its key at load (the costly part of the checks)."),
            key("csync", "table", "unset", "Act as the parental agent of this zone's delegations (RFC 7477, RFC 9975)."),
            key("notify_csync", "array of \"ADDR:PORT\"", "[]", "The child side: where to send NOTIFY(CSYNC) (the parent's DSYNC target) when a load publishes a new CSYNC RRset."),
            key("allow_update", "array of tables", "[] (UPDATE refused)", "Who may change the zone by UPDATE (RFC 2136); a primary only."),
            key("flush_delay", "integer (seconds)", "5", "After a change by UPDATE or transaction, wait this long before writing the zone back to `file` (like Knot's `zonefile-sync`); the journal holds the change meanwhile. 0 writes at once."),
            key("catalog", "table", "unset", "This zone is a catalog zone (RFC 9432)."),
            key("catalog_zone", "domain name", "unset", "The produced catalog that lists this zone, like Knot's `catalog-zone`."),
            key("catalog_group", "string", "unset", "The zone's `group` property in that catalog (RFC 9432 section 4.4.2)."),
            key("zonemd", "\"verify\", \"require\" or \"off\"", "\"verify\"", "ZONEMD (RFC 8976): with `verify`, a new version (a primary's load, a secondary's transfer) whose apex ZONEMD does not match its data, or does not carry the SOA serial, or (in a signed zone) has no valid signature, is not served: the old version stays, and a transfer counts as failed (RETRY, then EXPIRE). A version without ZONEMD is served. `require` also refuses a version without a ZONEMD it can check. `off` ignores ZONEMD."),
            key("zonemd_generate", "\"sha384\" or \"sha512\"", "unset", "A primary publishes a ZONEMD (SIMPLE scheme) of this algorithm, made anew for every version it serves (loads, UPDATE, transactions), before NOTIFY and IXFR go out. For unsigned zones: a signed zone's ZONEMD must be signed, so its signer makes it (`dnssec-signzone -z`, `ldns-signzone -z`), and such a zone is refused."),
        ],
    },
    Table {
        path: "zone.primaries",
        syntax: "primaries = [ { address = \"ADDR:PORT\", key = \"NAME\", tls = { … } } ]",
        doc: "A primary of a secondary zone.",
        keys: &[
            key("address", "\"ADDR:PORT\"", "required", "Where SOA queries and transfers go (with `tls`, the primary's TLS port, 853 by convention)."),
            key("key", "string", "unset", "The `[[key]]` that signs SOA queries and transfers (over TLS too)."),
            key("tls", "inline table", "unset (UDP and TCP)", "Reach this primary over TLS 1.3 only (XoT, RFC 9103): the SOA query and every transfer go over TLS, never in clear, whatever fails. NOTIFY still comes over UDP, from the primary's address (RFC 9103 section 5)."),
        ],
    },
    Table {
        path: "zone.primaries.tls",
        syntax: "tls = { ca = \"FILE\", server_name = \"NAME\", pin = \"PIN\", cert = \"FILE\", cert_key = \"FILE\", insecure = false }",
        doc: "How a primary reached over TLS is authenticated (RFC 9103 section 9.3): by a CA (`ca`, with `server_name`), by its key (`pin`), or both (both must hold); `insecure = true` instead encrypts without authenticating (opportunistic), and must be asked for. A TLS failure (handshake, CA, name, pin, expired certificate, our certificate refused) is a failed refresh: logged with the zone, the primary and the reason, counted as failed, RETRY with back-off, then EXPIRE; the primary is never tried in clear, and the next primary is tried as it is configured. The files are read at start (before root is dropped); one that cannot be used is a configuration error naming the setting and the file (`check-config` too). Relative to the configuration file.",
        keys: &[
            key("ca", "path", "unset", "CA certificates (PEM) the primary's certificate must chain to; its dates and name are checked too."),
            key("server_name", "DNS name or IP address", "the address of `address`", "The name the primary's certificate must be valid for (a subjectAltName), checked with `ca`; also sent as SNI when a DNS name."),
            key("pin", "base64 string", "unset", "The primary's key: the SHA-256 of its certificate's SubjectPublicKeyInfo in base64 (RFC 7469 section 2.4; `openssl x509 -in primary.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`). Alone it checks the key, not the certificate's dates or name (as kdig's `+tls-pin`); with `ca`, both must hold."),
            key("cert", "path", "unset", "Our certificate chain (PEM), presented for mutual TLS (RFC 9103 section 9.3.3) to a primary that requires a client certificate. With `cert_key`."),
            key("cert_key", "path", "unset", "The private key of `cert` (PEM: PKCS#8, PKCS#1 or SEC1)."),
            key("insecure", "boolean", "false", "Encrypt, but accept any certificate (opportunistic TLS: protects against eavesdroppers only, not against whoever answers in the primary's place). Not with `ca` or `pin`."),
        ],
    },
    Table {
        path: "zone.allow_transfer",
        syntax: "allow_transfer = [ { from = \"PREFIX\", key = \"NAME\", tls = true, client_cert = true, cert = \"PIN\" } ]",
        doc: "A transfer rule: a request is allowed when it matches a rule, that is when every condition the rule gives holds. Give at least one of `from`, `key`, `client_cert`, `cert` (who may transfer); `tls` adds how. A refused transfer is answered REFUSED and logged with the reason of the rule that came closest (e.g. \"not over TLS\"). IXFR over UDP never matches a rule that needs TLS (the client gets our SOA and retries over TCP, then TLS).",
        keys: &[
            key("from", "address prefix", "any address", "The client's address must be in this prefix, e.g. \"192.0.2.0/24\", \"::1\"."),
            key("key", "string", "no key needed", "The request must be signed with this `[[key]]` (TSIG, over TLS too)."),
            key("tls", "boolean", "false", "The request must come over the TLS listener (`server.tls_listen`; XoT, RFC 9103)."),
            key("client_cert", "boolean", "false", "Mutual TLS (RFC 9103 section 9.3.3): the client must have presented a certificate that chains to `server.tls_client_ca`. Implies `tls`."),
            key("cert", "base64 string", "any certificate", "The client certificate's key, pinned: the SHA-256 of its SubjectPublicKeyInfo in base64 (RFC 7469 section 2.4; `openssl x509 -in client.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`). The certificate must still chain to `server.tls_client_ca`. Implies `client_cert`."),
        ],
    },
    Table {
        path: "zone.allow_notify",
        syntax: "allow_notify = [ { from = \"PREFIX\", key = \"NAME\" } ]",
        doc: "A NOTIFY rule, as a transfer rule.",
        keys: &[
            key("from", "address prefix", "any address", "The sender's address must be in this prefix."),
            key("key", "string", "no key needed", "The NOTIFY must be signed with this `[[key]]`."),
        ],
    },
    Table {
        path: "zone.notify",
        syntax: "notify = [ { addr = \"ADDR:PORT\", key = \"NAME\" } ]",
        doc: "A NOTIFY target written as a table, to sign the NOTIFY.",
        keys: &[
            key("addr", "\"ADDR:PORT\"", "required", "Where the NOTIFY goes."),
            key("key", "string", "unset", "The `[[key]]` that signs it."),
        ],
    },
    Table {
        path: "zone.allow_update",
        syntax: "[[zone.allow_update]]",
        doc: "An UPDATE rule: an UPDATE is applied when every change it makes is allowed by a rule of the key that signed it.",
        keys: &[
            key("key", "string", "required", "The `[[key]]` that must sign the UPDATE."),
            key("from", "address prefix", "any address", "The sender's address must be in this prefix."),
            key("names", "array of domain names", "[] (the whole zone)", "The names the key may change."),
            key("match", "\"exact\", \"subdomain\" or \"wildcard\"", "\"subdomain\"", "How `names` match: the name itself, the name and below, or strictly below."),
            key("types", "array of type mnemonics", "[] (any type)", "The types the key may change."),
        ],
    },
    Table {
        path: "zone.csync",
        syntax: "[zone.csync]",
        doc: "The parental agent (RFC 7477): which delegations follow their child's CSYNC record, and how often the children are asked. A CSYNC record with the `soaminimum` flag is acted on only once the child's SOA serial has reached the serial in the CSYNC record (RFC 7477 section 2.1.1.1).",
        keys: &[
            key("children", "array of domain names", "[] (every secure delegation)", "The children to follow, names below the zone."),
            key("interval", "integer (seconds)", "3600", "Time between scans of a child; a NOTIFY(CSYNC) starts one at once."),
            key("retry", "integer (seconds)", "60", "First back-off after a scan that could decide nothing, doubled up to `interval`."),
            key("port", "integer", "53", "The port the children's nameservers are asked on."),
            key("resolver", "\"ADDR:PORT\"", "first nameserver of /etc/resolv.conf", "A resolver for the addresses of nameserver names outside this zone."),
        ],
    },
    Table {
        path: "zone.catalog",
        syntax: "[zone.catalog]",
        doc: "What the server does with a catalog zone (RFC 9432).",
        keys: &[
            key("role", "\"consumer\" or \"producer\"", "required", "consumer: serve the zones the catalog lists (a secondary of the catalog); producer: generate the catalog from the zones whose `catalog_zone` names it (a primary without a file)."),
            key("templates", "array of strings", "[]", "Consumer: the `[[template]]`s members are made from; the first is the default, a member whose `group` names another gets that one."),
        ],
    },
    Table {
        path: "monitor",
        syntax: "[monitor]",
        doc: "Watch nameservers: history, propagation times, dashboard, alerts, /metrics. In the server's file, or alone in a file for `zonesync monitor --config FILE`.",
        keys: &[
            key("listen", "\"ADDR:PORT\"", "unset (no web side)", "The dashboard, `/status` and `/metrics` (HTTP)."),
            key("database", "path", "\"monitor.redb\" in data_dir", "The history database."),
            key("retention_days", "integer", "30", "Days of history kept."),
            key("interval", "integer (seconds)", "60", "Time between checks of a zone whose servers agree."),
            key("fast_interval_ms", "integer (milliseconds)", "1000", "Time between checks while a change is spreading, for the propagation times."),
            key("alert_after", "integer (seconds)", "300", "How long a server may be behind, lame or unreachable before an alert; 0: at once."),
            key("heal_after", "integer (seconds)", "60", "How long a server may be behind, lame or different before the replication doctor says why (the row's diagnosis, a `diagnosis` event, the alert's detail); also the first gap between two heal NOTIFYs."),
            key("heal", "boolean", "true", "Heal what a NOTIFY can heal (`not-notified`, `notify-unacknowledged`, `never-asked`): NOTIFY to that server, at most `heal_tries` times per change, only to an address named in `ns` or the zone's apex NS set. Only a monitor inside the primary (`[monitor]` in `serve`) heals; a standalone one diagnoses."),
            key("heal_tries", "integer", "3", "The most heal NOTIFYs to one server for one change, `heal_after` apart and doubling; then a `heal-failed` alert says what was tried."),
            key("expire_warning", "integer (seconds)", "86400", "Alert when a secondary's EDNS EXPIRE left is below this."),
            key("timeout_ms", "integer (milliseconds)", "2000", "Per query (UDP tries 3 times)."),
            key("resolver", "\"ADDR:PORT\"", "first nameserver of /etc/resolv.conf", "For discovery: the parent's servers, out-of-zone NS names."),
            key("zone", "array of tables", "[]", "Zones watched."),
            key("catalog", "array of tables", "[]", "Catalog zones whose every member is watched."),
            key("secondary", "array of tables", "[]", "zonesync secondaries the replication doctor may heal through their control interface."),
            key("alerts", "table", "none", "Where alerts go."),
        ],
    },
    Table {
        path: "monitor.zone",
        syntax: "[[monitor.zone]]",
        doc: "A zone watched; its servers are discovered (parent delegation and apex NS, every address) unless given.",
        keys: &[
            key("name", "domain name", "required", "The zone."),
            key("ns", "array of \"NAME=ADDR[:PORT]\"", "[] (discovered)", "The servers, as `zonesync verify --ns`."),
            key("primary", "\"ADDR:PORT\"", "unset", "The primary (possibly hidden) whose serial is the reference."),
            key("port", "integer", "53", "Port of discovered addresses."),
            key("primary_control", "\"ADDR:PORT\"", "unset", "The primary's control interface (its `server.control`): where the monitor reads the zone's peer history (`/api/peers`). Needed by `zonesync monitor`; inside `serve` the server's own history is read unless this is set."),
            key("primary_control_key", "key name", "unset", "The `[[key]]` of this configuration the primary's `server.control_key` names: reads of `primary_control` are signed with it."),
            key("records", "array of \"OWNER/TYPE\"", "[]", "RRsets compared between servers at the same serial, as `zonesync verify --records` (`www/A`, `@/MX`): one that differs makes the server `different`. Inside the primary the replication doctor names the differing RRsets with both values, from the server's zone transferred (AXFR, once per serial) or, when it does not transfer it to us, from these."),
        ],
    },
    Table {
        path: "monitor.secondary",
        syntax: "[[monitor.secondary]]",
        doc: "A zonesync secondary the replication doctor may ask, through its control interface, to `refresh` a zone it serves old (`heal_after` after the heal NOTIFYs are spent, or at once for `notify-refused` and `transfer-failed`), then to `retransfer` it whole `heal_after` later (at once for `served-old-after-transfer`); each ask is a `heal` event and in the primary's peer history, and `heal-failed` says what was tried. Only with `heal = true`, and only to the row at `address` when it answers.",
        keys: &[
            key("address", "\"ADDR:PORT\"", "required", "Its DNS address, as the zone's row shows it (`ns =` or discovered); it must ask the primary from that IP for its history to be read."),
            key("control", "\"ADDR:PORT\"", "required", "Its control interface (its `server.control`)."),
            key("control_key", "key name", "unset", "The `[[key]]` of this configuration its `server.control_key` names: requests are signed with it (`Authorization: Zonesync-HMAC`)."),
        ],
    },
    Table {
        path: "monitor.catalog",
        syntax: "[[monitor.catalog]]",
        doc: "Watch every member of a catalog zone: the catalog is transferred from `primary` every `interval`, and members come and go with it.",
        keys: &[
            key("name", "domain name", "required", "The catalog zone."),
            key("primary", "\"ADDR:PORT\"", "required", "Where the catalog is transferred from (AXFR, unsigned), and each member's reference serial."),
            key("ns", "array of \"NAME=ADDR[:PORT]\"", "[] (discovered)", "The members' servers."),
            key("port", "integer", "53", "Port of discovered addresses."),
        ],
    },
    Table {
        path: "monitor.alerts",
        syntax: "[monitor.alerts]",
        doc: "Alert destinations; both, one or neither (the dashboard and the history show everything anyway).",
        keys: &[
            key("webhook", "\"http://HOST:PORT/PATH\"", "unset", "Each alert and recovery is POSTed as JSON."),
            key("command", "array of strings", "[]", "A program and its arguments; each alert and recovery is written to its standard input as JSON (at most 10 s per run)."),
        ],
    },
];

/// The table at `path` ("zone.primaries"); a template's tables are the
/// zone's.
pub fn table(path: &str) -> Option<&'static Table> {
    let (template, zone) = TEMPLATE_AS;
    let path = match path.strip_prefix(template) {
        Some(rest) if rest.is_empty() || rest.starts_with('.') => format!("{zone}{rest}"),
        _ => path.to_owned(),
    };
    TABLES.iter().find(|t| t.path == path)
}

/// The reference as Markdown (docs/config.md).
pub fn markdown() -> String {
    let mut out = String::from(
        "# zonesync.toml: the configuration reference\n\n\
         Generated from `src/config/reference.rs` (`zonesync man` writes the\n\
         same text as the zonesync.toml(5) man page); edit that file, then\n\
         `UPDATE_DOCS=1 cargo test --lib config::` rewrites this one.\n\n\
         Relative paths are relative to the directory of the configuration file.\n\
         `zonesync check-config --config FILE` checks a file without starting anything.\n",
    );
    for t in TABLES {
        let title = if t.path.is_empty() {
            "The top level".to_owned()
        } else {
            format!("`{}`", t.syntax)
        };
        out.push_str(&format!("\n## {title}\n\n{}\n", t.doc));
        if t.path == "zone" {
            out.push_str(
                "\n`[[template]]` takes the same keys; its `name` is the template's own.\n",
            );
        }
        out.push_str("\n| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
        for k in t.keys {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                k.name,
                cell(k.kind),
                cell(k.default),
                cell(k.doc)
            ));
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
