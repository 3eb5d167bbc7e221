#!/usr/bin/env python3
"""Writes a benchmark zone of about N records and a dnsperf query file.

usage: gen-zone.py ORIGIN N ZONEFILE [QUERYFILE [QUERIES]]

Record mix per 10 names: 10 A, 3 AAAA, 1 MX, 1 TXT, 1 CNAME; queries: 80%
existing names (A/AAAA/MX/TXT), 10% names that do not exist, 10% NODATA.
"""
import random
import sys

origin, n, zonefile = sys.argv[1].rstrip(".") + ".", int(sys.argv[2]), sys.argv[3]
queryfile = sys.argv[4] if len(sys.argv) > 4 else None
nqueries = int(sys.argv[5]) if len(sys.argv) > 5 else 100000
rng = random.Random(42)
names = []
count = 0
with open(zonefile, "w") as f:
    f.write(f"$ORIGIN {origin}\n$TTL 3600\n")
    f.write("@ SOA ns1 hostmaster 2026010101 7200 1800 1209600 300\n")
    f.write("@ NS ns1\n@ NS ns2\nns1 A 192.0.2.1\nns2 A 192.0.2.2\n")
    count += 6
    i = 0
    while count < n:
        name = f"host{i}"
        names.append(name)
        f.write(f"{name} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
        count += 1
        if i % 10 < 3:
            f.write(f"{name} AAAA 2001:db8::{i & 0xffff:x}:{(i >> 16) & 0xffff:x}\n")
            count += 1
        if i % 10 == 3:
            f.write(f"{name} MX 10 mail{i % 97}\n")
            count += 1
        if i % 10 == 4:
            f.write(f'{name} TXT "benchmark record {i}"\n')
            count += 1
        if i % 10 == 5:
            f.write(f"alias{i} CNAME {name}\n")
            count += 1
        i += 1
if queryfile:
    with open(queryfile, "w") as q:
        for _ in range(nqueries):
            r = rng.random()
            name = rng.choice(names)
            if r < 0.8:
                qtype = rng.choice(["A", "A", "A", "AAAA", "MX", "TXT"])
                q.write(f"{name}.{origin} {qtype}\n")
            elif r < 0.9:
                q.write(f"nx{rng.randrange(10**9)}.{origin} A\n")
            else:
                q.write(f"{name}.{origin} SRV\n")
