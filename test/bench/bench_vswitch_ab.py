#!/usr/bin/env python3
"""bench_vswitch_ab.py FLOWS ROUNDS TREE... - A/B of eniflow-vswitch builds.

Runs TREE/build/test/bench/bench_vswitch on the same capture for each tree
in turn, ROUNDS times (interleaved, so every tree sees the same machine
load), and prints one JSON line per tree with the medians of cycles/packet
off, cycles added by flow logs, and the on/off ratio. Each TREE is a source
tree with a build of bench_vswitch (e.g. a `git worktree` of the commit to
compare). The capture is generated with gen_flows_pcap.py if missing.
Needs root and hugepages, like bench_vswitch.sh. Never fails a build.
"""
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    flows, rounds, trees = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    pcap = f"/tmp/eniflow-ab-f{flows}.pcap"
    if not os.path.exists(pcap):
        subprocess.run([sys.executable, os.path.join(HERE, "gen_flows_pcap.py"), pcap, flows],
                       check=True)
    res = {t: [] for t in trees}
    for _ in range(rounds):
        for t in trees:
            out = subprocess.run([os.path.join(t, "build/test/bench/bench_vswitch"), pcap, flows,
                                  "1.5", "3"], capture_output=True, text=True).stdout
            try:
                res[t].append(json.loads(out))
            except ValueError:
                print(json.dumps({"bench": "vswitch_ab", "tree": t, "error": "no result"}))
    for t in trees:
        runs = res[t]
        if not runs:
            continue
        med = lambda k: round(statistics.median(r[k] for r in runs), 3)
        print(json.dumps({"bench": "vswitch_ab", "tree": t, "flows": int(flows), "runs": len(runs),
                          "off_cycles_per_pkt": med("off_cycles_per_pkt"),
                          "added_cycles_per_pkt": med("added_cycles_per_pkt"),
                          "ratio_on_off": med("ratio_on_off")}))


if __name__ == "__main__":
    main()
