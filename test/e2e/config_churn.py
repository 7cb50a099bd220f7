#!/usr/bin/env python3
"""Helpers of config_churn.sh (stdlib only).

  config_churn.py churn BASE TOKEN SECONDS THREADS RATE ID_TIED... -- ID_AGG...
      PATCH flow logs from THREADS keep-alive connections for SECONDS, at
      RATE changes/s in all (0: as fast as they are answered).
      ID_TIED flow logs cycle through the tied configs (TIED below: each
      sample_1_in_n has its own traffic type); ID_AGG ones change only
      their aggregation interval (they keep logging everything).
      Prints one JSON object: changes sent, answered 200, rate.
  config_churn.py udp DST_IP PPS SECONDS
      Send PPS one-packet UDP flows per second (a new destination port each).
  config_churn.py snap FILE_PREFIX SWITCH_PID
      One JSON snapshot: telemetry /eniflow/stalls of worker 0, plus the
      context switches of that worker's thread (from /proc).
  config_churn.py stall SNAP_A SNAP_B
      The window between two snapshots: iterations, the longest iteration
      and the longest one left once each context switch of the lcore
      thread is allowed to explain one long iteration (see stall_of()).
  config_churn.py torn CAT_JSONL ENI_INDEX...
      Records of those ENIs must show only (verdict, sample_1_in_n) pairs
      that one whole tied config can produce; prints the pairs seen.
"""
import http.client
import json
import math
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

# sample_1_in_n -> the traffic type and interval it always travels with.
TIED = [
    {"traffic_type": "ALL", "sample_1_in_n": 1, "aggregation_interval_s": 2},
    {"traffic_type": "ACCEPT", "sample_1_in_n": 2, "aggregation_interval_s": 3},
    {"traffic_type": "REJECT", "sample_1_in_n": 3, "aggregation_interval_s": 4},
]
# (verdict, sample_1_in_n) a whole tied config can log
VALID = {("ACCEPT", 1), ("REJECT", 1), ("ACCEPT", 2), ("REJECT", 3)}


def churn(base, token, seconds, threads, rate, tied, agg):
    host, port = base.split("//")[1].split(":")
    targets = [(i, True) for i in tied] + [(i, False) for i in agg]
    counts = {"sent": 0, "ok": 0, "other": {}}
    lock = threading.Lock()
    reconnects = [0] * threads
    start = time.monotonic()
    end = start + seconds

    def run(t):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        n = t
        sent = ok = 0
        other = {}
        while time.monotonic() < end:
            if rate:
                # paced: request n is due at start + n / rate
                wait = start + n / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            fid, is_tied = targets[n % len(targets)]
            k = n // len(targets)
            body = TIED[k % 3] if is_tied else {"aggregation_interval_s": 1 + k % 30}
            n += threads
            for attempt in (0, 1):
                try:
                    conn.request("PATCH", "/v1/flow-logs/" + fid, json.dumps(body), hdr)
                    r = conn.getresponse()
                    r.read()
                    st = r.status
                    break
                except (OSError, http.client.HTTPException) as e:
                    # the server closed the kept-alive connection: a PATCH sets
                    # absolute values, so sending it again is safe
                    st = type(e).__name__
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=10)
                    reconnects[t] += 1
            sent += 1
            if st == 200:
                ok += 1
            else:
                other[str(st)] = other.get(str(st), 0) + 1
        with lock:
            counts["sent"] += sent
            counts["ok"] += ok
            for k2, v in other.items():
                counts["other"][k2] = counts["other"].get(k2, 0) + v

    ths = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    took = time.monotonic() - start
    counts["reconnects"] = sum(reconnects)
    counts["seconds"] = round(took, 3)
    counts["rate"] = round(counts["ok"] / took, 1)
    print(json.dumps(counts))


def udp(dst, pps, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    n = 0
    payload = b"churn" * 8
    while True:
        now = time.monotonic() - start
        if now >= seconds:
            break
        due = int(now * pps)
        while n < due:
            s.sendto(payload, (dst, 1024 + n % 64000))
            n += 1
        time.sleep(0.002)
    print(n)


def lcore_thread(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip().startswith(("rte-worker", "lcore-worker")):
                    return tid
        except FileNotFoundError:
            pass  # a short-lived thread (EAL's) ended meanwhile
    sys.exit("config_churn.py: no worker lcore thread in pid %d" % pid)


def cpu_irqs(cpus):
    """Interrupts (device, timer, IPIs) taken so far by the CPU of the lcore
    thread, when it is pinned to one, from /proc/interrupts."""
    if not cpus.isdigit():
        return 0
    with open("/proc/interrupts") as f:
        head = f.readline().split()
        col = head.index("CPU" + cpus)
        n = 0
        for line in f:
            v = line.split()
            if len(v) > col + 1 and v[col + 1].isdigit():
                n += int(v[col + 1])
    return n


def snap(prefix, pid):
    import telemetry
    st = telemetry.query(prefix, ["/eniflow/stalls,0"])[0]
    with open("/proc/%d/task/%s/status" % (pid, lcore_thread(pid))) as f:
        for line in f:
            v = line.split()
            if v and v[0] in ("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"):
                st[v[0][:-1]] = int(v[1])
            if v and v[0] == "Cpus_allowed_list:":
                st["lcore_cpus"] = v[1]
    st["irqs"] = cpu_irqs(st.get("lcore_cpus", ""))
    st["t"] = time.time()
    print(json.dumps(st))


def diff(a, b, key):
    return [y - x for x, y in zip(a[key], b[key])]


def nth_longest(h, skip):
    """Log2 bucket of the longest entry of histogram h once the `skip`
    longest are set aside (0 if none is left)."""
    for i in range(len(h) - 1, -1, -1):
        if h[i] > skip:
            return i
        skip -= h[i]
    return 0


def stall(fa, fb):
    """Each time the OS preempts the lcore thread (its nonvoluntary context
    switches: other tasks, kernel work on its CPU) it stretches the one
    iteration it falls in, whatever the switch's code does. So the stall of
    a window is its longest iteration once each of its k preemptions has
    explained one long iteration. Voluntary switches (the thread blocked,
    say on a lock) are not set aside: that would be the switch stalling.
    Interrupts on the lcore's CPU are counted, not set aside: the longest
    iterations are also the busiest, and setting aside one per interrupt
    would drop them. The polls that applied a new config are few: of the k
    preemptions and i interrupts only about (k + i) x (their share of the
    lcore's time) fall on them; that many, plus a Poisson margin, are set
    aside there."""
    a, b = json.load(open(fa)), json.load(open(fb))
    hz = b["tsc_hz"]
    secs = b["t"] - a["t"]
    k = b["nonvoluntary_ctxt_switches"] - a["nonvoluntary_ctxt_switches"]
    out = {"seconds": round(secs, 2), "preempted": k,
           "blocked": b["voluntary_ctxt_switches"] - a["voluntary_ctxt_switches"],
           "irqs": b["irqs"] - a["irqs"], "lcore_cpus": b.get("lcore_cpus")}
    us = lambda bucket: round(2 ** (bucket + 1) / hz * 1e6, 2)
    for key in ("iter", "poll", "cfg_poll"):
        h = diff(a, b, key + "_hist")
        top = max((i for i, v in enumerate(h) if v), default=0)
        if key == "cfg_poll":
            # their share of the lcore's running time: count x median length
            # (the long ones are long because they were preempted)
            half, med = sum(h) / 2, 0
            for i, v in enumerate(h):
                half -= v
                if half <= 0:
                    med = i
                    break
            # interrupts too: they fall on polls whatever the poll does
            lam = (k + out["irqs"]) * sum(h) * 1.5 * 2 ** med / (secs * hz)
            skip = int(math.ceil(lam + 4 * math.sqrt(lam) + 1))
        else:
            skip = k
        net = nth_longest(h, skip)
        out[key] = {"count": sum(h), "set_aside": skip, "max_bucket": top,
                    "max_us_below": us(top),
                    "hist": {i: v for i, v in enumerate(h) if v},
                    "max_us_below": us(top), "stall_bucket": net, "stall_us_below": us(net)}
    print(json.dumps(out))


def torn(path, enis):
    enis = {int(e) for e in enis}
    seen = {}
    bad = 0
    for line in open(path):
        r = json.loads(line)
        if r.get("log-status") != "OK" or r.get("eni-index") not in enis:
            continue
        key = (r["action"], r["sample-1-in-n"])
        seen[key] = seen.get(key, 0) + 1
        if key not in VALID:
            bad += 1
            if bad <= 5:
                print("TORN: record %s" % json.dumps(r))
    print(json.dumps({"pairs": {"%s/%d" % k: v for k, v in sorted(seen.items())}, "torn": bad}))
    return 1 if bad else 0


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "churn":
        sep = argv.index("--")
        churn(argv[2], argv[3], float(argv[4]), int(argv[5]), float(argv[6]), argv[7:sep],
              argv[sep + 1:])
    elif cmd == "udp":
        udp(argv[2], int(argv[3]), float(argv[4]))
    elif cmd == "snap":
        snap(argv[2], int(argv[3]))
    elif cmd == "stall":
        stall(argv[2], argv[3])
    elif cmd == "torn":
        return torn(argv[2], argv[3:])
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
