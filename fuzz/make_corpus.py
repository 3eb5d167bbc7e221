#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under fuzz/corpus/<target>/.

Seeds come from the repository's own fixtures (examples/zones,
tests/fixtures) and from small DNS messages made here: queries for the
names of the shipped zones, with and without EDNS options, TSIG-signed
with the fuzz key, UPDATEs, NOTIFYs, transfer requests. Re-run it after a
fixture changes; the files it writes are committed.

    python3 fuzz/make_corpus.py
"""

import base64
import glob
import hashlib
import hmac
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")

# The key of zonesync_fuzz::fuzz_key().
KEY_NAME = "fuzz-key."
KEY = base64.b64decode("WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=")
NOW = 1_780_000_000  # the tsig target's clock


def name(text):
    text = text.rstrip(".")
    out = b""
    if text:
        for label in text.split("."):
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


T = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
     "AAAA": 28, "SRV": 33, "DNAME": 39, "OPT": 41, "DS": 43, "RRSIG": 46,
     "NSEC": 47, "DNSKEY": 48, "NSEC3": 50, "NSEC3PARAM": 51, "CSYNC": 62,
     "ZONEMD": 63, "IXFR": 251, "AXFR": 252, "ANY": 255, "CAA": 257}


def rr(owner, rtype, ttl, rdata, klass=1):
    return name(owner) + struct.pack(">HHIH", rtype, klass, ttl, len(rdata)) + rdata


def opt(options=b"", udp=1232, do=False):
    flags = 0x8000 if do else 0
    return b"\x00" + struct.pack(">HHBBHH", 41, udp, 0, 0, flags, len(options)) + options


def option(code, data=b""):
    return struct.pack(">HH", code, len(data)) + data


def message(qname, qtype, *, id=0x1234, flags=0x0100, klass=1, an=(), ns=(),
            ar=(), opcode=0):
    flags = (flags & ~0x7800) | (opcode << 11)
    head = struct.pack(">HHHHHH", id, flags, 1, len(an), len(ns), len(ar))
    q = name(qname) + struct.pack(">HH", qtype, klass)
    return head + q + b"".join(an) + b"".join(ns) + b"".join(ar)


def tsig_sign(msg, now=NOW):
    """Appends a TSIG record (hmac-sha256, fudge 300) to `msg`."""
    alg = name("hmac-sha256.")
    variables = (name(KEY_NAME) + struct.pack(">HI", 255, 0) + alg
                 + struct.pack(">HIHHH", now >> 32, now & 0xFFFFFFFF, 300, 0, 0))
    mac = hmac.new(KEY, msg + variables, hashlib.sha256).digest()
    rdata = (alg + struct.pack(">HIH", now >> 32, now & 0xFFFFFFFF, 300)
             + struct.pack(">H", len(mac)) + mac + msg[0:2] + struct.pack(">HH", 0, 0))
    arcount = struct.unpack(">H", msg[10:12])[0] + 1
    return msg[:10] + struct.pack(">H", arcount) + msg[12:] + rr(KEY_NAME, 250, 0, rdata, 255)


def write(target, label, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, label), "wb") as f:
        f.write(data)


def soa_rdata(serial):
    return name("ns1.example.com.") + name("hostmaster.example.com.") + struct.pack(
        ">IIIII", serial, 7200, 1800, 1209600, 300)


def queries():
    names = ["example.com.", "www.example.com.", "mail.example.com.",
             "x.users.example.com.", "_sip._udp.example.com.", "a.b.c.example.com.",
             "b.c.example.com.", "x.old.example.com.", "sub.example.com.",
             "ns.sub.example.com.", "host3.example.com.", "nx.example.com.",
             "example.net.", "www.example.net.", "WwW.ExAmPlE.CoM.", "example.org.", "."]
    out = []
    for n in names:
        for t in ["A", "AAAA", "NS", "SOA", "MX", "TXT", "DS", "ANY", "NSEC", "DNSKEY", "ZONEMD"]:
            out.append((f"{n}{t}", message(n, T[t])))
    cookie = bytes(range(8))
    out += [
        ("edns-do", message("www.example.com.", T["A"], ar=[opt(do=True)])),
        ("edns-do-nx", message("nx.example.com.", T["A"], ar=[opt(do=True)])),
        ("edns-do-wild", message("z.users.example.com.", T["TXT"], ar=[opt(do=True)])),
        ("edns-nsid", message("example.com.", T["SOA"], ar=[opt(option(3))])),
        ("edns-expire", message("example.com.", T["SOA"], ar=[opt(option(9))])),
        ("edns-zoneversion", message("example.com.", T["SOA"], ar=[opt(option(19))])),
        ("edns-cookie-client", message("example.com.", T["A"], ar=[opt(option(10, cookie))])),
        ("edns-cookie-bad", message("example.com.", T["A"], ar=[opt(option(10, cookie[:5]))])),
        ("edns-big", message("example.com.", T["ANY"], ar=[opt(udp=65535, do=True)])),
        ("edns-small", message("example.com.", T["ANY"], ar=[opt(udp=100)])),
        ("edns-v1", message("example.com.", T["A"], ar=[b"\x00" + struct.pack(">HHBBHH", 41, 1232, 0, 1, 0, 0)])),
        ("axfr", message("example.com.", T["AXFR"])),
        ("ixfr", message("example.com.", T["IXFR"], ns=[rr("example.com.", 6, 0, soa_rdata(2026112100))])),
        ("chaos", message("version.bind.", T["TXT"], klass=3)),
        ("class-any", message("example.com.", T["SOA"], klass=255)),
        ("notify", message("example.com.", T["SOA"], opcode=4, flags=0x2000)),
        ("update", message("example.com.", T["SOA"], opcode=5, flags=0)),
        ("status-opcode", message("example.com.", T["SOA"], opcode=2)),
        ("response-bit", message("example.com.", T["A"], flags=0x8100)),
        ("tsig-signed", tsig_sign(message("www.example.com.", T["A"]))),
        ("tsig-signed-edns", tsig_sign(message("example.com.", T["SOA"], ar=[opt(do=True)]))),
        ("tsig-signed-axfr", tsig_sign(message("example.com.", T["AXFR"]))),
        ("compressed-question-pointer", struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"),
        ("two-questions", struct.pack(">HHHHHH", 1, 0x0100, 2, 0, 0, 0) + (name("example.com.") + b"\x00\x01\x00\x01") * 2),
        ("header-only", struct.pack(">HHHHHH", 1, 0x0100, 0, 0, 0, 0)),
    ]
    return out


def zone_texts():
    files = sorted(glob.glob(os.path.join(ROOT, "examples/zones/*.zone"))
                   + glob.glob(os.path.join(ROOT, "tests/fixtures/answers/*.zone"))
                   + glob.glob(os.path.join(ROOT, "tests/fixtures/check_zone/*"))
                   + glob.glob(os.path.join(ROOT, "tests/fixtures/dnssec/*.zone"))
                   + glob.glob(os.path.join(ROOT, "tests/fixtures/csync/*.zone")))
    out = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        rel = os.path.relpath(path, ROOT).replace("/", "_")
        # Fixtures of another origin are still good parser input; the
        # largest (signed zones) are cut to keep the seeds quick.
        out.append((rel, data[:16384]))
    return out


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)

    # answer: DNS requests.
    qs = queries()
    for label, q in qs:
        write("answer", label, q)

    # zonefile: the fixtures (parsed under example.com.).
    texts = zone_texts()
    for label, data in texts:
        write("zonefile", label, data)
    write("zonefile", "directives",
          b"$ORIGIN example.com.\n$TTL 1h\n@ SOA ns1 host 1 2h 30m 2w 5m\n@ NS ns1\nns1 A 192.0.2.1\n"
          b"$GENERATE 1-10/2 h${0,3,x} AAAA ::$\n$INCLUDE other.inc\n"
          b"x 300 IN TYPE65534 \\# 3 010203\ny CAA 0 issue \"ca.example\"\n"
          b"z ( IN TXT \"a\" \"b\\\"c\" )\n")

    # xfr_tracker: programs (see the target's documentation).
    def soa(s):
        return b"\x01" + struct.pack(">I", s)
    write("xfr_tracker", "axfr", b"\x00" + soa(5) + b"\x00\x00\x00" + b"\x03" + soa(5))
    write("xfr_tracker", "ixfr-uptodate", b"\x01" + struct.pack(">I", 1000) + soa(1000) + b"\x03")
    write("xfr_tracker", "ixfr-2", b"\x01" + struct.pack(">I", 1000) + soa(1002)
          + b"\x02\x00\x00\x02\x01\x00\x03\x02\x01\x00\x02\x02\x00" + soa(1002) + b"\x03")
    write("xfr_tracker", "ixfr-fullzone", b"\x01" + struct.pack(">I", 1000) + soa(1003) + b"\x00\x00" + soa(1003))
    write("xfr_tracker", "ixfr-wrap", b"\x01" + struct.pack(">I", 0xFFFFFFFF) + soa(3)
          + soa(0xFFFFFFFF) + b"\x00" + soa(3) + b"\x00" + soa(3))

    # snapshot: serial ‖ count u64 ‖ records (journal record form).
    def srec(owner, rtype, ttl, rdata):
        o = name(owner)
        return struct.pack(">H", len(o)) + o + struct.pack(">HIH", rtype, ttl, len(rdata)) + rdata
    recs = [srec("example.com.", 6, 300, soa_rdata(7)), srec("example.com.", 2, 300, name("ns1.example.com.")),
            srec("ns1.example.com.", 1, 300, bytes([192, 0, 2, 1])),
            srec("www.example.com.", 5, 300, name("example.com.")),
            srec("a.b.example.com.", 16, 300, b"\x02hi")]
    write("snapshot", "small", struct.pack(">IQ", 7, len(recs)) + b"".join(recs))
    write("snapshot", "soa-only", struct.pack(">IQ", 7, 1) + recs[0])
    write("snapshot", "count-too-big", struct.pack(">IQ", 7, 1 << 40) + recs[0])

    # journal: flags ‖ (len u16 ‖ payload)*; payload: from ‖ to ‖ old SOA ‖
    # new SOA ‖ removed count u32 ‖ records ‖ added count u32 ‖ records.
    def change(a, b, removed=(), added=()):
        p = struct.pack(">II", a, b) + srec("example.com.", 6, 300, soa_rdata(a)) + srec("example.com.", 6, 300, soa_rdata(b))
        p += struct.pack(">I", len(removed)) + b"".join(removed)
        p += struct.pack(">I", len(added)) + b"".join(added)
        return struct.pack(">H", len(p)) + p
    write("journal", "chain", b"\x00" + change(1, 2, added=[recs[2]]) + change(2, 3, removed=[recs[2]], added=[recs[3]]))
    write("journal", "broken-chain", b"\x00" + change(1, 2) + change(5, 6))
    write("journal", "corrupt-tail", b"\x01" + change(1, 2) + change(2, 3))
    write("journal", "torn-tail", b"\x02" + change(1, 2) + change(2, 3))
    write("journal", "repeat-serial", b"\x00" + change(1, 2) + change(2, 1) + change(1, 2))

    # tsig: 0 ‖ request (server side), 1 ‖ flip ‖ message (signed here).
    for label, q in qs[-8:] + qs[:3]:
        write("tsig", "server-" + label, b"\x00" + q)
        write("tsig", "sign-" + label, b"\x01\x00" + q)
        write("tsig", "flip-" + label, b"\x03\x80" + q)
    write("tsig", "server-signed", b"\x00" + tsig_sign(message("example.com.", T["SOA"])))
    write("tsig", "server-signed-late", b"\x00" + tsig_sign(message("example.com.", T["SOA"]), NOW + 10_000))
    write("tsig", "server-signed-badmac", b"\x00" + tsig_sign(message("example.com.", T["SOA"]))[:-10] + b"\xff" * 10)

    # csync: 0 ‖ wire RDATA, 1 ‖ presentation text.
    bitmap_a_ns_aaaa = bytes([0, 4, 0x60, 0, 0, 0x08])
    write("csync", "wire", b"\x00" + struct.pack(">IH", 2026010101, 3) + bitmap_a_ns_aaaa)
    write("csync", "wire-empty", b"\x00" + struct.pack(">IH", 1, 0))
    write("csync", "wire-high", b"\x00" + struct.pack(">IH", 1, 0xFFFF) + bytes([1, 1, 0x80]))
    write("csync", "text", b"\x01" + b"2026010101 3 A NS AAAA")
    write("csync", "text-unknown", b"\x01" + b"66 0 TYPE65534 NS")

    # zonemd: 0 ‖ RDATA, 1 ‖ zone-file lines appended to the base zone.
    write("zonemd", "rdata-sha384", b"\x00" + struct.pack(">IBB", 2026010101, 1, 1) + bytes(48))
    write("zonemd", "rdata-short", b"\x00" + struct.pack(">IBB", 1, 1, 2) + bytes(3))
    write("zonemd", "zone-plain", b"\x01" + b"www A 192.0.2.80\nsub NS ns.sub\nns.sub A 192.0.2.9\n")
    write("zonemd", "zone-zonemd", b"\x01" + b"@ ZONEMD 2026010101 1 1 " + b"00" * 48 + b"\n")
    write("zonemd", "zone-zonemd-private", b"\x01" + b"@ ZONEMD 2026010101 240 1 00\n@ ZONEMD 2026010101 1 240 0000\n")
    write("zonemd", "zone-dnskey", b"\x01" + b"@ DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n")

    # catalog: catalog zones (RFC 9432) of catalog.invalid.
    head = b"$ORIGIN catalog.invalid.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 86400 0\n@ NS invalid.\n"
    write("catalog", "v2", head + b"version TXT \"2\"\nm1.zones PTR example.com.\nm2.zones PTR example.net.\n"
          b"group.m2.zones TXT \"fast\"\ncoo.m1.zones PTR other.catalog.\n")
    write("catalog", "duplicates", head + b"version TXT \"2\"\na.zones PTR example.com.\nb.zones PTR example.com.\n"
          b"c.zones PTR x.\nc.zones PTR y.\n")
    write("catalog", "v1", head + b"version TXT \"1\"\nm1.zones PTR example.com.\n")
    write("catalog", "no-version", head + b"m1.zones PTR example.com.\n")

    # update_message: UPDATEs for example.com. (zone section = question).
    def update(pre=(), upd=(), zone="example.com."):
        head = struct.pack(">HHHHHH", 0x4242, 5 << 11, 1, len(pre), len(upd), 0)
        return head + name(zone) + struct.pack(">HH", 6, 1) + b"".join(pre) + b"".join(upd)
    a = bytes([192, 0, 2, 7])
    write("update_message", "add", update(upd=[rr("new.example.com.", 1, 300, a)]))
    write("update_message", "add-cname-clash", update(upd=[rr("www.example.com.", 1, 300, a)]))
    write("update_message", "delete-rrset", update(upd=[rr("mail.example.com.", 1, 0, b"", 255)]))
    write("update_message", "delete-name", update(upd=[rr("sip.example.com.", 255, 0, b"", 255)]))
    write("update_message", "delete-rr", update(upd=[rr("ns1.example.com.", 1, 0, bytes([192, 0, 2, 53]), 254)]))
    write("update_message", "prereq-exists", update(pre=[rr("www.example.com.", 255, 0, b"", 255)],
                                                     upd=[rr("www2.example.com.", 1, 300, a)]))
    write("update_message", "prereq-nxdomain", update(pre=[rr("nx.example.com.", 255, 0, b"", 254)],
                                                       upd=[rr("nx.example.com.", 16, 300, b"\x02hi")]))
    write("update_message", "apex-ns", update(upd=[rr("example.com.", 2, 300, name("ns3.example.com."))]))
    write("update_message", "soa", update(upd=[rr("example.com.", 6, 300, soa_rdata(2026112200))]))
    write("update_message", "below-cut", update(upd=[rr("x.sub.example.com.", 1, 300, a)]))
    write("update_message", "other-zone", update(zone="example.net.", upd=[rr("n.example.net.", 1, 300, a)]))

    # xfr_stream: programs (see the target's documentation): 0 IDX a
    # palette record, 2 N an apex SOA of serial 1000+N, 4 F the end of a
    # message with header flags F (0x20: names compressed), 5 LEN raw, 6
    # TYPE OWNER LEN RDATA a record of any type.
    def s(n):
        return bytes([2, n])
    end, endc = b"\x04\x00", b"\x04\x20"
    write("xfr_stream", "axfr", b"\x00" + s(5) + b"\x00\x00\x00\x03\x00\x0b\x00\x08\x00\x09" + s(5) + endc)
    write("xfr_stream", "axfr-two-messages", b"\x00" + s(5) + b"\x00\x00" + end + b"\x00\x03" + s(5) + end)
    write("xfr_stream", "axfr-soa-only", b"\x00" + s(5) + end + s(5) + end)
    write("xfr_stream", "ixfr-uptodate", b"\x01" + s(0) + end)
    write("xfr_stream", "ixfr-two", b"\x01" + s(2) + s(0) + b"\x00\x01" + s(1) + b"\x00\x03"
          + s(1) + s(2) + b"\x00\x0c" + s(2) + endc)
    write("xfr_stream", "ixfr-split", b"\x01" + s(2) + s(0) + b"\x00\x01" + end + s(1) + b"\x00\x03"
          + s(1) + end + s(2) + b"\x00\x0c" + s(2) + end)
    write("xfr_stream", "ixfr-delegation", b"\x01" + s(1) + s(0) + b"\x00\x08\x00\x09" + s(1)
          + b"\x00\x04\x00\x14" + s(1) + endc)
    write("xfr_stream", "ixfr-missing-removal", b"\x01" + s(1) + s(0) + b"\x00\x02" + s(1) + s(1) + end)
    write("xfr_stream", "ixfr-ttl", b"\x01" + s(1) + s(0) + b"\x00\x12" + s(1) + b"\x00\x12" + s(1) + end)
    write("xfr_stream", "ixfr-cname-clash", b"\x01" + s(1) + s(0) + s(1) + b"\x00\x05" + s(1) + end)
    write("xfr_stream", "ixfr-rrsig", b"\x01" + s(1) + s(0) + s(1) + b"\x00\x17" + s(1) + end)
    write("xfr_stream", "ixfr-any-type", b"\x01" + s(1) + s(0) + s(1) + b"\x06\x00\x10\x06\x03\x02hi"
          + b"\x06\x00\x2a\x01\x00" + s(1) + end)
    write("xfr_stream", "ixfr-other-soa", b"\x01" + s(1) + b"\x03\x00" + s(1) + s(1) + end)
    write("xfr_stream", "ixfr-fullzone", b"\x01" + s(3) + b"\x00\x00\x00\x06" + s(3) + end)
    write("xfr_stream", "refused", b"\x01" + s(1) + b"\x04\x04")
    raw = struct.pack(">HHHHHH", 0x4242, 0x8400, 0, 1, 0, 0) + rr("example.com.", 6, 300, soa_rdata(1000))
    write("xfr_stream", "raw", b"\x01" + bytes([5, len(raw)]) + raw)

    # control_http: 0 ‖ method index ‖ path?query (1 = POST, 0 = GET);
    # 1 ‖ request kind ‖ flags ‖ fields separated by NUL.
    for i, (m, line) in enumerate([
            (0, "/status"), (0, "/metrics"), (1, "/reload"), (1, "/reload?zone=example.com&force=1"),
            (1, "/notify?zone=example.com"), (1, "/refresh?zone=a%20b&retransfer=0"),
            (1, "/csync/scan?zone=example&child=child.example&dry_run"), (0, "/csync/pending"),
            (1, "/csync/approve?child=child.example"),
            (1, "/zone?zone=example.com&op=set&owner=www&ttl=300&type=A&rdata=192.0.2.1"),
            (1, "/zone?zone=example.com&op=unset&owner=www&type=A"), (1, "/zone?zone=example.com&op=get"),
            (1, "/zone-add?zone=new.example&template=t&file=%2Fvar%2Fz"), (1, "/zone-remove?zone=new.example"),
            (0, "/reload"), (1, "/nope"), (1, "/reload?zone=a&zone=b"), (1, "/reload?frob=1"),
            (1, "/zone?zone=x&op=launch"), (1, "/refresh"), (1, "/reload?force=maybe"), (1, "/reload?zone=%zz")]):
        write("control_http", f"line{i}", bytes([0, m]) + line.encode())
    for i, (kind, flags, f) in enumerate([(2, 1, [b"example.com"]), (5, 1, [b"p", b"c"]),
                                          (8, 0, [b"z", b"t", b"f"]), (10, 1, [b"z", b"www", b"A", b"1.2.3.4"]),
                                          (10, 2, [b"z", b"a b", b"TXT", b"\"x y\""]), (7, 0, [b"", "ü".encode()])]):
        write("control_http", f"call{i}", bytes([1, kind, flags]) + b"\x00".join(f))

    # dashboard_http: method index (0 GET, 1 HEAD, 2 POST) ‖ path?query.
    for i, (m, line) in enumerate([
            (0, "/"), (1, "/index.html?x=1"), (0, "/assets/app.js"), (0, "/favicon.ico"), (0, "/status"),
            (0, "/metrics"), (0, "/api/history?zone=Example.COM&since_ms=5"), (0, "/api/events?limit=7"),
            (0, "/api/events?zone=example.com.&limit=999999"), (0, "/api/changes?zone=%2E"), (0, "/api/stream"),
            (1, "/api/stream"), (2, "/status"), (0, "/nope"), (0, "/api/history"), (0, "/api/events?zone="),
            (0, "/api/history?zone=a&zone=b"), (0, "/api/history?since_ms=-1&zone=a"), (0, "/status?zone=a"),
            (0, "/api/peers?zone=Example.COM"), (0, "/api/peers?zone=a&limit=1")]):
        write("dashboard_http", f"line{i}", bytes([m]) + line.encode())

    # csync_decide: child ‖ memory ‖ 2 serial bytes ‖ servers (see the
    # target): one server with CSYNC 100 immediate NS A AAAA, NS ns1+ns2
    # inside the child with A glue, then a copy of it.
    one = bytes([0x20, 0, 1, 7, 0x83, 10, 1, 14, 1, 0, 0])
    write("csync_decide", "apply", bytes([0, 0, 0, 0]) + one + bytes([0x22]))
    write("csync_decide", "waiting", bytes([0, 0, 0, 0]) + bytes([0x20, 0, 0, 7, 0x83, 10, 1, 14, 1, 0, 0, 0x22]))
    write("csync_decide", "approved", bytes([0, 2, 0, 0]) + bytes([0x20, 0, 0, 7, 0x83, 10, 1, 14, 1, 0, 0]))
    write("csync_decide", "processed", bytes([0, 1, 0, 0]) + one)
    write("csync_decide", "failed", bytes([0, 0, 0, 0]) + one + bytes([0x01]))
    write("csync_decide", "disagree", bytes([0, 0, 0, 0]) + one + bytes([0x20, 0, 1, 7, 0x81, 10, 1, 14, 1, 0, 0]))
    write("csync_decide", "two-a-only", bytes([1, 0, 0, 0]) + bytes([0x24, 1, 1, 3, 0x90, 2, 0, 6, 0, 3, 0]))
    write("csync_decide", "ext", bytes([2, 0, 0, 0]) + bytes([0x20, 0, 3, 1, 0x88]))

    # http_query: query strings.
    for i, s in enumerate([b"zone=example.com&serial=1", b"a%20b+c", b"%e2%82%ac", b"%zz", b"%",
                           b"x=%C3%A9t%C3%A9", b"%ff%fe"]):
        write("http_query", f"q{i}", s)


if __name__ == "__main__":
    main()
