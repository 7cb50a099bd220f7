#!/usr/bin/env python3
"""Per ENI: packets/bytes the dataplane accounted == packets/bytes in FLOW
records + packets/bytes in loss records, exactly (RELIABILITY.md, loss
accounting). usage: conservation.py STATS_JSON SEGSUM_JSON [MIN_PACKETS]
STATS_JSON is eniflowd's GET /v1/stats taken after the switch stopped
forwarding; SEGSUM_JSON is efd_segsum's summary of every segment."""
import json
import sys

st = json.load(open(sys.argv[1]))
sg = json.load(open(sys.argv[2]))["enis"]
min_packets = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
bad = []
for i, e in enumerate(st["enis"]):
    s = sg[i]
    rec_p = s["accept_packets"] + s["reject_packets"]
    rec_b = s["accept_bytes"] + s["reject_bytes"]
    lost_p = (s["loss_ring_packets"] + s["loss_writer_packets"] + s["loss_recovery_packets"]
              + s["loss_other_packets"])
    lost_b = s["loss_ring_bytes"] + s["loss_writer_bytes"] + s["loss_recovery_bytes"]
    print("%s: accounted %d pk %d B, recorded %d pk %d B, lost %d pk %d B"
          % (e["eni_id"], e["packets_accounted"], e["bytes_accounted"], rec_p, rec_b, lost_p, lost_b))
    if (e["packets_accounted"], e["bytes_accounted"]) != (rec_p + lost_p, rec_b + lost_b):
        bad.append("%s: accounted != recorded + lost" % e["eni_id"])
if sum(e["packets_accounted"] for e in st["enis"]) < min_packets:
    bad.append("too little traffic accounted")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
