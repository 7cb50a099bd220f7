#!/usr/bin/env python3
"""Tiny DPDK telemetry v2 client: telemetry.py FILE_PREFIX COMMAND[,PARAMS]...

Prints one JSON object per command (the command's value only). Stdlib only,
so tests need neither dpdk-telemetry.py's interactive mode nor extra
packages. Exit 1 with a message if the socket is not there or a command
fails.
"""
import json
import socket
import sys


def query(prefix, cmds):
    path = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(path)
    except OSError as e:
        sys.exit(f"telemetry.py: {path}: {e}")
    info = json.loads(s.recv(1024).decode())
    out = []
    for c in cmds:
        s.send(c.encode())
        reply = json.loads(s.recv(info.get("max_output_len", 16384) * 4).decode())
        key = c.split(",")[0]
        if key not in reply or reply[key] is None:
            sys.exit(f"telemetry.py: {c}: no answer ({reply})")
        out.append(reply[key])
    s.close()
    return out


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    for v in query(sys.argv[1], sys.argv[2:]):
        print(json.dumps(v))
