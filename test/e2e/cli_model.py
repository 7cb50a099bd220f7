#!/usr/bin/env python3
"""Reference model for `eniflow cat`: decodes the raw 96-byte records itself
(from `lz4 -dc`, not from eniflow's reader) and checks that every JSON, CSV
and AWS line says exactly what docs/record-format.md says it must.

usage: cli_model.py RAW JSON CSV AWS [--enis K]
Prints a summary line; exits 1 with the first differences on a mismatch.
"""
import csv
import ipaddress
import json
import struct
import sys

REC = struct.Struct('<10BH2H4I16s16s4Q')
assert REC.size == 96

FIELDS = ('version kind direction verdict ip_version protocol tcp_flags layer '
          'end_reason l2_class ethertype src_port dst_port eni rule_id '
          'sample_1_in_n aux src_addr dst_addr packets bytes first_ns last_ns').split()

COLUMNS = ('version account-id interface-id srcaddr dstaddr srcport dstport protocol '
           'packets bytes start end action log-status vpc-id subnet-id type tcp-flags '
           'flow-direction record-version eni-index rule-id layer end-reason l2-class '
           'ethertype icmp-type icmp-code sample-1-in-n fragments start-ns end-ns '
           'lost-packets lost-bytes lost-records').split()
DICT_COLS = ('account-id', 'interface-id', 'vpc-id', 'subnet-id')

END = {0: 'idle', 1: 'active', 2: 'tcp-close', 3: 'cache-pressure', 4: 'shutdown',
       16: 'ring-full', 17: 'writer', 18: 'recovery', 19: 'exporter'}


def addr(r, which):
    raw = r[which]
    if r['ip_version'] == 4:
        assert raw[4:] == bytes(12), f'v4 address with non-zero tail: {raw.hex()}'
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


def expected(r):
    """The documented text values of record r, dictionary columns excluded."""
    e = dict.fromkeys(COLUMNS)
    e.update({'version': 5, 'start': r['first_ns'] // 10**9, 'end': r['last_ns'] // 10**9,
              'record-version': r['version'], 'eni-index': r['eni'],
              'sample-1-in-n': r['sample_1_in_n'], 'start-ns': r['first_ns'],
              'end-ns': r['last_ns']})
    if r['kind'] == 1:
        e.update({'log-status': 'SKIPDATA', 'end-reason': END[r['end_reason']],
                  'lost-packets': r['packets'], 'lost-bytes': r['bytes'],
                  'lost-records': r['aux']})
        return e
    if r['kind'] == 2:
        e['log-status'] = 'NODATA'
        return e
    assert r['kind'] == 0, f'kind {r["kind"]}'
    icmp = (r['ip_version'], r['protocol']) in ((4, 1), (6, 58))
    if r['ip_version'] in (4, 6):
        e.update({'srcaddr': addr(r, 'src_addr'), 'dstaddr': addr(r, 'dst_addr'),
                  'srcport': 0 if icmp else r['src_port'],
                  'dstport': 0 if icmp else r['dst_port'],
                  'protocol': r['protocol'], 'type': f'IPv{r["ip_version"]}',
                  'tcp-flags': r['tcp_flags']})
    if icmp:
        e.update({'icmp-type': r['src_port'], 'icmp-code': r['dst_port']})
    e.update({'packets': r['packets'], 'bytes': r['bytes'],
              'action': ['ACCEPT', 'REJECT'][r['verdict']], 'log-status': 'OK',
              'flow-direction': ['ingress', 'egress'][r['direction']],
              'rule-id': r['rule_id'], 'layer': ['none', 'sg', 'acl'][r['layer']],
              'end-reason': END[r['end_reason']],
              'l2-class': ['unicast', 'broadcast', 'multicast'][r['l2_class']],
              'ethertype': f'0x{r["ethertype"]:04x}', 'fragments': r['aux']})
    return e


def fail(msg):
    print(f'cli_model: FAIL {msg}', file=sys.stderr)
    sys.exit(1)


def main():
    raw_path, json_path, csv_path, aws_path = sys.argv[1:5]
    n_enis = int(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[5] == '--enis' else None
    raw = open(raw_path, 'rb').read()
    if len(raw) % 96:
        fail(f'raw stream is {len(raw)} bytes, not a multiple of 96')
    recs = [dict(zip(FIELDS, REC.unpack_from(raw, i))) for i in range(0, len(raw), 96)]
    objs = [json.loads(line) for line in open(json_path)]
    rows = list(csv.reader(open(csv_path, newline='')))
    aws = open(aws_path).read().split('\n')
    if aws[-1] != '':
        fail('AWS output does not end in a newline')
    aws = aws[:-1]
    if len(objs) != len(recs) or len(rows) != len(recs) + 1 or len(aws) != len(recs) + 1:
        fail(f'counts: raw {len(recs)}, json {len(objs)}, csv {len(rows) - 1}, aws {len(aws) - 1}')
    if rows[0] != COLUMNS:
        fail(f'csv header {rows[0]}')
    if aws[0] != ' '.join(COLUMNS[:14]):
        fail(f'aws header {aws[0]!r}')

    ident = {}  # eni index -> dictionary columns, must be one identity per index
    kinds = {}
    for i, (r, o) in enumerate(zip(recs, objs)):
        if list(o) != COLUMNS:
            fail(f'record {i}: json keys {list(o)}')
        want = expected(r)
        got = {k: v for k, v in o.items() if k not in DICT_COLS}
        want = {k: v for k, v in want.items() if k not in DICT_COLS}
        if got != want:
            diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
            fail(f'record {i}: json (got, want): {diff}')
        d = tuple(o[k] for k in DICT_COLS)
        if None in d or ident.setdefault(r['eni'], d) != d:
            fail(f'record {i}: eni {r["eni"]} identity {d}, earlier {ident.get(r["eni"])}')
        cells = ['' if v is None else str(v) for v in o.values()]
        if rows[i + 1] != cells:
            fail(f'record {i}: csv {rows[i + 1]} != {cells}')
        vals = list(o.values())[:14]
        vals[0] = 2  # AWS text says version 2 (the default format)
        line = ' '.join('-' if v is None else str(v) for v in vals)
        if aws[i + 1] != line:
            fail(f'record {i}: aws {aws[i + 1]!r} != {line!r}')
        key = ('flow', r['ip_version']) if r['kind'] == 0 else ('kind', r['kind'])
        kinds[key] = kinds.get(key, 0) + 1
    if len(set(ident.values())) != len(ident):
        fail(f'two ENI indexes share an identity: {ident}')
    if n_enis is not None and not all(e < n_enis for e in ident):
        fail(f'ENI index outside 0..{n_enis - 1}: {sorted(ident)}')
    print(f'cli_model: {len(recs)} records agree in raw, json, csv and aws; '
          f'enis={len(ident)} kinds={sorted(kinds.items())}')


if __name__ == '__main__':
    main()
