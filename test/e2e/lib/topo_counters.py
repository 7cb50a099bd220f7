#!/usr/bin/env python3
"""Check the three-VM topology's counters between two snapshots.

usage: topo_counters.py BEFORE.json AFTER.json ACL_RULE [NOTE]

Each snapshot holds the kernel's tap counters ("kernel", per VM) and the
switch's telemetry ("switch": /eniflow/stats and /eniflow/rejects). Over
the window, per ENI: the VM's tap transmitted what the switch received and
received what it sent (packets and bytes, exactly); nothing was rejected on
its way out of a VM; every crossing was accounted (flow logs on for all).
The only rejects are vm3's ingress SYNs to port 22 (subnet ACL rule
ACL_RULE) and to 9999 (security-group default), and the switch's rejected
counter agrees. Used by vswitch_topology.sh (IPv4) and vswitch_ipv6.sh.
Prints one line per ENI; exits 1 naming every broken check.
"""
import json
import sys


def main():
    before, after = (json.load(open(p)) for p in sys.argv[1:3])
    acl_rule = int(sys.argv[3])
    note = sys.argv[4] if len(sys.argv) > 4 else ""
    bad = []
    sw_b, rej_b = before["switch"]
    sw_a, rej_a = after["switch"]
    ids = sw_a["eni"]
    for i in range(3):
        kb, ka = before["kernel"][str(i + 1)], after["kernel"][str(i + 1)]
        k = {x: ka[x] - kb[x] for x in ka}
        s = {x: sw_a[x][i] - sw_b[x][i] for x in sw_a if x != "eni"}
        for kk, sk in [("tx_packets", "rx_packets"), ("tx_bytes", "rx_bytes"),
                       ("rx_packets", "tx_packets"), ("rx_bytes", "tx_bytes")]:
            if k[kk] != s[sk]:
                bad.append(f"{ids[i]}: kernel {kk} +{k[kk]} but switch {sk} +{s[sk]}")
        if s["forwarded_bytes"] != s["rx_bytes"] or s["forwarded_packets"] != s["rx_packets"]:
            bad.append(f"{ids[i]}: forwarded {s['forwarded_packets']}/{s['forwarded_bytes']}B != rx")
        if s["tx_packets"] == 0:
            bad.append(f"{ids[i]}: nothing forwarded to it")
        # egress = rx, ingress = tx + rejected at ingress: all of it accounted
        if s["accounted_packets"] != s["seen_packets"]:
            bad.append(f"{ids[i]}: accounted {s['accounted_packets']} != seen {s['seen_packets']}")
        print(f"{ids[i]}: kernel tx {k['tx_packets']}/{k['tx_bytes']}B rx {k['rx_packets']}/"
              f"{k['rx_bytes']}B = switch rx {s['rx_packets']}/{s['rx_bytes']}B tx "
              f"{s['tx_packets']}/{s['tx_bytes']}B, rejected {s['rejected_packets']}, "
              f"accounted {s['accounted_packets']}")

    def rejects(r):
        return {(r["eni_index"][j], r["direction"][j], r["layer"][j], r["rule"][j]): r["packets"][j]
                for j in range(len(r["rule"]))}
    rb, ra = rejects(rej_b), rejects(rej_a)
    delta = {key: v - rb.get(key, 0) for key, v in ra.items() if v != rb.get(key, 0)}
    print("rejects (eni, dir 0=in, layer 1=SG 2=ACL, rule): packets:", delta)
    # nc -z sends a SYN and retransmits within 1 s: at least one each.
    acl = delta.pop((2, 0, 2, acl_rule), 0)
    sgdef = delta.pop((2, 0, 1, 0), 0)
    if acl < 1:
        bad.append(f"no SYN to port 22 rejected by ACL rule {acl_rule} at {ids[2]} ingress")
    if sgdef < 1:
        bad.append(f"no SYN to port 9999 rejected by the SG default at {ids[2]} ingress")
    if delta:
        bad.append(f"unexpected rejects: {delta}")
    rej3 = sw_a["rejected_packets"][2] - sw_b["rejected_packets"][2]
    if rej3 != acl + sgdef:
        bad.append(f"{ids[2]} rejected {rej3} != ACL {acl} + SG {sgdef}")
    if note:
        print(note)
    if bad:
        print("\n".join("FAIL: " + x for x in bad), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
