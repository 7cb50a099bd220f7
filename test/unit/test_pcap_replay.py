#!/usr/bin/env python3
"""Proves every capture in testdata/pcaps is accounted frame for frame, and per 5-tuple as tshark dissects it.

Usage: test_pcap_replay.py PCAP_REPLAY_EXE PCAP_DIR

1. Frame counts, every file: frames accounted by the plugin (pcap_replay's
   records; it checks records == frames received itself) must equal
   `capinfos -c`. For the few files whose link type Wireshark does not know,
   the count comes from test/lib/pcapfile.py, a reader independent of both
   libpcap and Wireshark. A file no reader opens must be refused by net_pcap
   too. Frames of non-Ethernet captures are accounted as the bytes arrive
   (a switch port sees Ethernet): counted exactly once, keys meaningless.
2. Per 5-tuple, Ethernet captures: tshark dissects all of them in one pass
   (mergecap -a, then frame numbers map back to files) with IP reassembly
   off. For each frame the key is taken from the outermost IP header that
   sits directly on Ethernet/VLAN tags (what our parser reads): version,
   src, dst, L4 class (tcp, udp, udplite, sctp, dccp, icmp, icmpv6 or
   other) and ports or ICMP type/code (0 for non-first fragments and other
   protocols); frames with no such header count as non-IP, keyed by the
   ethertype after the VLAN tags (0 for 802.3 length frames). Per file, the
   plugin's packets and bytes (captured length) per key must equal tshark's.
   Captures of raw IP, Linux SLL and BSD null link types are also replayed
   as Ethernet copies (the IP packet behind a made-up Ethernet header) so
   their IP traffic is compared too.
   Files listed in test/unit/pcap_replay_known.tsv may differ (each line
   says why); a listed file that no longer differs is an error too, so the
   list cannot go stale.
3. Cross-check with `tshark -z conv,ip` / `conv,ipv6` over the same merged
   capture (printed, not a pass/fail: tshark counts a tunnelled frame in
   every IP conversation it contains and counts bytes as the wire length).
"""
import collections
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pcapfile import libpcap_snaplen, read_frames, write_pcap  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PORTED = {6: "tcp", 17: "udp", 136: "udplite", 132: "sctp", 33: "dccp", 1: "icmp", 58: "icmpv6"}
PORT_FIELDS = {"tcp": ("tcp.srcport", "tcp.dstport"), "udp": ("udp.srcport", "udp.dstport"),
               "udplite": ("udp.srcport", "udp.dstport"),
               "sctp": ("sctp.srcport", "sctp.dstport"), "dccp": ("dccp.srcport", "dccp.dstport"),
               "icmp": ("icmp.type", "icmp.code"), "icmpv6": ("icmpv6.type", "icmpv6.code")}
L2_PROTOS = {"eth", "ethertype", "vlan", "ieee8021ad"}
V6_EXT = {"ipv6.hopopts", "ipv6.routing", "ipv6.dstopts", "ipv6.fraghdr", "ah"}
FIELDS = ["frame.number", "frame.cap_len", "frame.protocols", "eth.type", "vlan.etype", "ip.src", "ip.dst", "ip.proto",
          "ip.frag_offset", "ipv6.src", "ipv6.dst", "ipv6.fraghdr.offset", "ipv6.fraghdr.nxt",
          "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "sctp.srcport",
          "sctp.dstport", "dccp.srcport", "dccp.dstport", "icmp.type", "icmp.code",
          "icmpv6.type", "icmpv6.code"]
TSHARK_OPTS = ["-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
               "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "ip.check_checksum:FALSE"]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL " + msg, file=sys.stderr)


def run(cmd, **kw):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              check=False, **kw)
    except FileNotFoundError:
        sys.exit(f"FAIL {cmd[0]} not found: install Debian package tshark "
                 "(scripts/test does), it brings capinfos, mergecap and editcap")


def capinfos_counts(files):
    """{path: (encapsulation, frames)} for the files capinfos reads."""
    out = run(["capinfos", "-c", "-E", "-T", "-r", "-M", "--"] + files).stdout
    res = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].isdigit():
            res[parts[0]] = (parts[1], int(parts[2]))
    return res


def replay(exe, files, tmp):
    """Run pcap_replay; {path: {"status", "rx", "recs": [tuple]}}."""
    lst = os.path.join(tmp, "files.lst")
    with open(lst, "w") as f:
        f.write("\n".join(files) + "\n")
    p = run([exe, lst])
    if p.returncode != 0:
        fail(f"pcap_replay exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    res, cur = {}, []
    for line in p.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] in ("rec", "loss"):
            cur.append(parts)
        elif parts[0] == "file":
            res[parts[1]] = {"status": parts[2], "rx": int(parts[3]), "recs": cur}
            cur = []
    return res


def our_keys(recs):
    """Aggregate pcap_replay records into {key: [packets, bytes]}."""
    agg = collections.defaultdict(lambda: [0, 0])
    for r in recs:
        if r[0] == "loss":
            fail(f"loss record in a replay: {r}")
            continue
        ipv, src, dst, proto, sp, dp, pk, by = r[1], r[3], r[4], int(r[5]), r[6], r[7], r[8], r[9]
        if ipv == "0":
            key = ("non-ip", int(r[2], 16))
        else:
            cls = PORTED.get(proto, "other")
            key = (ipv, src, dst, cls, int(sp), int(dp)) if cls != "other" else (ipv, src, dst, cls, 0, 0)
        agg[key][0] += int(pk)
        agg[key][1] += int(by)
    return agg


def first(v):
    return v.split(",")[0] if v else ""


def inner_ethertype(f, protos, i):
    """Ethertype after the leading VLAN tags (protos[:i]); 0 for 802.3 length frames."""
    tags = [p for p in protos[:i] if p in ("vlan", "ieee8021ad")]
    if not tags:
        v = first(f["eth.type"])
        return int(v, 16) if v else 0
    if tags[-1] != "vlan":
        # An S-tag alone: tshark 4.0 has no field for the type after it; name it
        # from the protocol that follows.
        return {"arp": 0x0806, "lldp": 0x88CC, "ip": 0x0800, "ipv6": 0x86DD}.get(
            protos[i] if i < len(protos) else "", "?")
    etypes = f["vlan.etype"].split(",")
    n = tags.count("vlan")
    return int(etypes[n - 1], 16) if len(etypes) >= n and etypes[n - 1] else 0


def tshark_key(f):
    """Key of one frame from tshark's fields, by the rule in the file comment."""
    protos = f["frame.protocols"].split(":")
    i = 0
    while i < len(protos) and protos[i] in L2_PROTOS:
        i += 1
    if i == len(protos) or protos[i] not in ("ip", "ipv6"):
        return ("non-ip", inner_ethertype(f, protos, i))
    v6 = protos[i] == "ipv6"
    src, dst = first(f["ipv6.src" if v6 else "ip.src"]), first(f["ipv6.dst" if v6 else "ip.dst"])
    if not src or not dst:
        return ("non-ip", inner_ethertype(f, protos, i))  # header refused (bad version, IHL)
    ipv = "6" if v6 else "4"
    off = first(f["ipv6.fraghdr.offset" if v6 else "ip.frag_offset"])
    if off and int(off) > 0:
        num = first(f["ipv6.fraghdr.nxt" if v6 else "ip.proto"])
        cls = PORTED.get(int(num), "other") if num else "other"
        return (ipv, src, dst, cls, 0, 0)
    j = i + 1
    while v6 and j < len(protos) and protos[j] in V6_EXT:
        j += 1
    cls = protos[j] if j < len(protos) and protos[j] in PORT_FIELDS else "other"
    if cls == "other":
        return (ipv, src, dst, cls, 0, 0)
    sp, dp = (first(f[x]) for x in PORT_FIELDS[cls])
    return (ipv, src, dst, cls, int(sp or 0), int(dp or 0))


def as_libpcap_reads(path, tmp):
    """path, or a copy trimmed to its snap length as libpcap (net_pcap) trims it.

    Some captures hold records longer than their own snap length; libpcap
    cuts them, Wireshark does not. tshark must see the bytes the plugin saw.
    """
    snap = libpcap_snaplen(path)
    if all(len(fr) <= snap for _, fr, _ in read_frames(path)):
        return path
    out = os.path.join(tmp, "snap-%d-%s" % (snap, os.path.basename(path)))
    p = run(["editcap", "-s", str(snap), path, out])
    if p.returncode != 0:
        fail(f"editcap -s {snap} {path}: {p.stderr.strip()}")
    print(f"note: {os.path.basename(path)}: records longer than the snap length {snap}: "
          "tshark reads it trimmed, as libpcap does")
    return out


def tshark_expect(ether_files, counts, tmp):
    """{path: {key: [packets, bytes]}} from one tshark pass, plus the conv,ip text."""
    merged = os.path.join(tmp, "merged.pcap")
    p = run(["mergecap", "-a", "-F", "pcap", "-w", merged, "--"] +
            [as_libpcap_reads(path, tmp) for path in ether_files])
    if p.returncode != 0:
        fail(f"mergecap: {p.stderr.strip()}")
        return {}, ""
    cmd = ["tshark", "-r", merged] + TSHARK_OPTS + ["-T", "fields", "-E", "separator=/t",
                                                    "-E", "occurrence=a", "-E", "aggregator=,"]
    for fld in FIELDS:
        cmd += ["-e", fld]
    p = run(cmd + ["-z", "conv,ip", "-z", "conv,ipv6"])
    if p.returncode != 0:
        fail(f"tshark: {p.stderr.strip()[-1000:]}")
    bounds, n = [], 0  # frame numbers [n+1, n+count] belong to file
    for path in ether_files:
        bounds.append((n + counts[path][1], path))
        n += counts[path][1]
    exp = {path: collections.defaultdict(lambda: [0, 0]) for path in ether_files}
    conv, bi, seen = [], 0, 0
    for line in p.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != len(FIELDS) or not parts[0].isdigit():
            conv.append(line)
            continue
        f = dict(zip(FIELDS, parts))
        num = int(f["frame.number"])
        while bi < len(bounds) and num > bounds[bi][0]:
            bi += 1
        if bi == len(bounds):
            fail(f"tshark frame {num} beyond the {n} frames capinfos counted")
            break
        k = tshark_key(f)
        exp[bounds[bi][1]][k][0] += 1
        exp[bounds[bi][1]][k][1] += int(f["frame.cap_len"])
        seen += 1
    if seen != n:
        fail(f"tshark dissected {seen} frames of the merged capture, capinfos counted {n}")
    return exp, "\n".join(conv)


# Link types whose frames are IP behind a small header: re-framed as Ethernet.
LT_NULL, LT_RAW_OLD, LT_RAW, LT_SLL, LT_RAW4, LT_RAW6 = 0, 12, 101, 113, 228, 229
REFRAME_MAC = bytes.fromhex("020000000001020000000002")


def reframe(frame, linktype):
    """The Ethernet frame a switch port would carry for one frame of an IP link type."""
    if linktype == LT_SLL:
        return REFRAME_MAC + frame[14:16] + frame[16:] if len(frame) >= 16 else None
    if linktype == LT_NULL:
        if len(frame) < 4:
            return None
        af = min(struct.unpack("<I", frame[:4])[0], struct.unpack(">I", frame[:4])[0])
        et = b"\x08\x00" if af == 2 else b"\x86\xdd" if af in (24, 28, 30) else b"\x00\x00"
        return REFRAME_MAC + et + frame[4:]
    ver = frame[0] >> 4 if frame else 0
    if linktype == LT_RAW4 or (linktype in (LT_RAW, LT_RAW_OLD) and ver == 4):
        return REFRAME_MAC + b"\x08\x00" + frame
    if linktype == LT_RAW6 or (linktype in (LT_RAW, LT_RAW_OLD) and ver == 6):
        return REFRAME_MAC + b"\x86\xdd" + frame
    return None


def reframed_copies(files, tmp):
    """Ethernet copies of the captures with an IP link type (raw IP, Linux SLL, BSD null).

    Replayed in addition to the originals (which are replayed as they are),
    so that their IP traffic is compared with tshark too. Records are cut to
    the snap length first, as libpcap would cut them.
    """
    out = []
    os.makedirs(os.path.join(tmp, "reframed"), exist_ok=True)
    for path in files:
        try:
            frames = list(read_frames(path))
        except (OSError, struct.error):
            continue
        if not frames or frames[0][0] not in (LT_NULL, LT_RAW_OLD, LT_RAW, LT_SLL, LT_RAW4, LT_RAW6):
            continue
        snap = libpcap_snaplen(path)
        eth = [reframe(fr[:snap], lt) for lt, fr, _ in frames]
        if any(e is None for e in eth):
            continue  # a frame with no IP inside: leave this capture to the count check
        dst = os.path.join(tmp, "reframed", os.path.basename(path))
        write_pcap(dst, eth)
        out.append(dst)
    return out


def load_known():
    known = {}
    with open(os.path.join(HERE, "pcap_replay_known.tsv")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                path, why = line.rstrip("\n").split("\t", 1)
                known[path] = why
    return known


def check_counts(files, counts, got):
    """Check 1: every frame of every file accounted exactly once."""
    for path in files:
        g = got.get(path)
        if g is None:
            fail(f"{path}: pcap_replay printed nothing for it")
            continue
        if path in counts:
            want, source = counts[path][1], "capinfos"
        else:
            frames = list(read_frames(path))
            want, source = len(frames), "pcapfile.py"
            if not frames and g["status"] == "open-failed":
                print(f"note: {path}: not a capture (no reader opens it); net_pcap refuses it too")
                continue
        if g["status"] != "ok" or g["rx"] != want:
            fail(f"{path}: accounted {g['rx']} frames ({g['status']}), {source} counts {want}")


def diff_keys(ours, theirs):
    keys = sorted(set(ours) | set(theirs), key=str)
    return [(k, ours.get(k), theirs.get(k)) for k in keys if ours.get(k) != theirs.get(k)]


def check_tuples(ether_files, got, exp, root, tmp):
    """Check 2: per-file, per-5-tuple packets and bytes against tshark."""
    known, differing = load_known(), set()
    for path in ether_files:
        if path.startswith(tmp):
            rel = "reframed/" + os.path.basename(path)
        else:
            rel = os.path.relpath(path, root)
        d = diff_keys(dict(our_keys(got[path]["recs"])), dict(exp.get(path, {})))
        if d:
            differing.add(rel)
            if rel not in known:
                fail(f"{rel}: {len(d)} key(s) differ from tshark (key, ours, tshark): {d[:4]}")
            else:
                print(f"known: {rel}: {len(d)} key(s) differ: {known[rel]}")
    for rel in sorted(set(known) - differing):
        fail(f"{rel} is listed in pcap_replay_known.tsv but now matches tshark: drop the line")
    print(f"per-5-tuple: {len(ether_files) - len(differing)} of {len(ether_files)} Ethernet "
          f"captures match tshark exactly, {len(differing)} known differences")


def check_conv(ether_files, got, conv_text):
    """Cross-check 3 (printed): frames per IP pair against tshark -z conv,ip/conv,ipv6."""
    ours = collections.Counter()
    for path in ether_files:
        for r in got[path]["recs"]:
            if r[0] == "rec" and r[1] != "0":
                ours[tuple(sorted((r[3], r[4])))] += int(r[8])
    theirs = collections.Counter()
    for line in conv_text.splitlines():
        t = line.split()
        if len(t) >= 10 and t[1] == "<->" and t[9].isdigit():
            theirs[tuple(sorted((t[0], t[2])))] += int(t[9])
    same = sum(1 for k in ours if ours[k] == theirs.get(k))
    more = sum(1 for k in theirs if theirs[k] > ours.get(k, 0))
    less = sum(1 for k in ours if ours[k] > theirs.get(k, 0))
    for k in sorted(k for k in ours if ours[k] > theirs.get(k, 0))[:10]:
        print(f"conv,ip: {k[0]} <-> {k[1]}: we count {ours[k]} frames, tshark {theirs.get(k, 0)}")
    print(f"conv,ip cross-check: {len(ours)} IP pairs in our records, {same} with tshark's frame "
          f"count; {more} pairs where tshark counts more (inner headers of tunnels, ICMP errors, "
          f"IP under MPLS/PPPoE/LLC), {less} where it counts fewer (its conversation tap runs "
          f"after the IP payload is dissected; a malformed payload skips it)")


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    exe, root = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    if os.environ.get("ENIFLOW_TESTDATA"):
        root = os.path.join(os.path.abspath(os.environ["ENIFLOW_TESTDATA"]), "pcaps")
    files = sorted(os.path.join(d, n) for d, _, ns in os.walk(root) for n in ns)
    if not files:
        sys.exit(f"FAIL no files under {root}")
    counts = capinfos_counts(files)
    with tempfile.TemporaryDirectory(prefix="pcap_replay.") as tmp:
        reframed = reframed_copies(files, tmp)
        counts.update(capinfos_counts(reframed))
        got = replay(exe, files + reframed, tmp)
        check_counts(files + reframed, counts, got)
        ether = [p for p in files + reframed if counts.get(p, ("",))[0] == "ether" and p in got]
        print(f"re-framed {len(reframed)} raw-IP/SLL/null captures as Ethernet for the key check")
        exp, conv = tshark_expect(ether, counts, tmp)
    other = collections.Counter(counts[p][0] if p in counts else "unknown to Wireshark"
                                for p in files if p in got and got[p]["status"] == "ok"
                                and p not in ether)
    print(f"non-Ethernet captures: {sum(other.values())} files ({dict(other)}), "
          f"{sum(got[p]['rx'] for p in files if p in got and p not in ether)} frames, each "
          f"accounted once as the bytes a port would hand over; their keys are not compared")
    check_tuples(ether, got, exp, root, tmp)
    check_conv(ether, got, conv)
    total = sum(g["rx"] for g in got.values())
    print(f"pcap replay: {len(files)} files (+{len(reframed)} re-framed copies), {total} frames "
          f"accounted, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
