"""pcapfile.py - a small, stdlib-only reader of pcap and pcapng files.

Shared by the test tools (test/fuzz/extract_corpus.py, test/unit/
test_pcap_replay.py). It is written from the file-format specs, apart from
libpcap and Wireshark, so it can serve as an independent frame count where
capinfos cannot read a file (link types Wireshark does not know).
Malformed files are read up to the first bad record, as libpcap does.
"""
import struct

LINKTYPE_ETHERNET = 1


def pcap_frames(buf):
    """Yield (linktype, frame, orig_len) from a classic pcap image."""
    magic = buf[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        return
    if len(buf) < 24:
        return
    linktype = struct.unpack(end + "I", buf[20:24])[0] & 0x0FFFFFFF
    off = 24
    while off + 16 <= len(buf):
        _, _, incl, orig = struct.unpack(end + "IIII", buf[off:off + 16])
        off += 16
        if incl > len(buf) - off:
            return
        yield linktype, buf[off:off + incl], orig
        off += incl


def pcapng_frames(buf):
    """Yield (linktype, frame, orig_len) from a pcapng image."""
    off, end, ifaces = 0, "<", []
    while off + 12 <= len(buf):
        btype = struct.unpack(end + "I", buf[off:off + 4])[0]
        if btype == 0x0A0D0D0A:  # section header: byte order may change
            bom = buf[off + 8:off + 12]
            end = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        blen = struct.unpack(end + "I", buf[off + 4:off + 8])[0]
        if blen < 12 or blen % 4 or off + blen > len(buf):
            return
        body = buf[off + 8:off + blen - 4]
        if btype == 1 and len(body) >= 2:
            ifaces.append(struct.unpack(end + "H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:
            iface, _, _, incl, orig = struct.unpack(end + "IIIII", body[:20])
            if iface < len(ifaces) and incl <= len(body) - 20:
                yield ifaces[iface], body[20:20 + incl], orig
        elif btype == 3 and len(body) >= 4 and ifaces:
            orig = struct.unpack(end + "I", body[:4])[0]
            yield ifaces[0], body[4:4 + min(orig, len(body) - 4)], orig
        off += blen


def read_frames(path):
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] == b"\x0a\x0d\x0d\x0a":
        return pcapng_frames(buf)
    return pcap_frames(buf)


LIBPCAP_MAX_SNAPLEN = 262144


def libpcap_snaplen(path):
    """The snap length libpcap enforces when it reads path (it trims longer records).

    The file's own snap length (classic header, or the first interface of a
    pcapng file); 0 or more than libpcap's maximum means the maximum.
    """
    with open(path, "rb") as f:
        buf = f.read(4096)
    snap = 0
    if buf[:4] == b"\x0a\x0d\x0d\x0a" and len(buf) >= 12:
        end = "<" if buf[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off = struct.unpack(end + "I", buf[4:8])[0]
        while off + 16 <= len(buf):
            btype, blen = struct.unpack(end + "II", buf[off:off + 8])
            if btype == 1:
                snap = struct.unpack(end + "I", buf[off + 12:off + 16])[0]
                break
            if blen < 12:
                break
            off += blen
    elif len(buf) >= 20 and buf[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        snap = struct.unpack("<I", buf[16:20])[0]
    elif len(buf) >= 20:
        snap = struct.unpack(">I", buf[16:20])[0]
    return snap if 0 < snap <= LIBPCAP_MAX_SNAPLEN else LIBPCAP_MAX_SNAPLEN


def write_pcap(path, frames, linktype=LINKTYPE_ETHERNET):
    """Write frames (bytes each) as a little-endian microsecond pcap, 1 µs apart."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, LIBPCAP_MAX_SNAPLEN, linktype))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)
