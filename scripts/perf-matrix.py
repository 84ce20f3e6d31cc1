#!/usr/bin/env python3
"""Seed-vs-tuned matrix of both filters, interleaved C/Rust, on loopback (root only).

Why this exists: the numbers behind the --gso/--batch/--queues work, reproducible
without the harness (which does not pass those flags yet). Each run gets a fresh
namespace nfqb-perf-<pid> (deleted afterwards) with NFQUEUE rules for port 5201 only
there; iperf3 (TCP 1 stream, or UDP -b 0 -l 64) runs DUR seconds; results are
receiver-side (TCP: sum_received; UDP: packets - lost_packets as the server counted
them), plus the filter's stats and the kernel's queue counters read before stopping.
Filter, server and client run at nice -20 (NICE=) to shield them from other load.

usage: sudo BIN=target/release DUR=5 TRAFFIC=tcp,udp \
           scripts/perf-matrix.py OUT.jsonl REPS [nofilter seed tuned1 tuned2 c128 gso1]
       scripts/perf-matrix.py --summary OUT.jsonl
"""
import json, os, subprocess, sys, time, signal
BIN = os.environ.get("BIN", "target/release")
DUR = os.environ.get("DUR", "5")
CONFIGS = {
    "nofilter": None,
    "seed": [],
    "tuned1": ["--copy-range", "128", "--gso", "--batch", "32"],
    # 2 queues: the rule is --queue-balance 0:1 --queue-cpu-fanout (by CPU, not by flow)
    "tuned2": ["--copy-range", "128", "--gso", "--batch", "32", "--queues", "2"],
    "gso1": ["--copy-range", "128", "--gso"],  # tuned without batching
    "c128": ["--copy-range", "128"],
}
TRAFFIC = {"tcp": ["-t", DUR], "udp": ["-t", DUR, "-u", "-b", "0", "-l", "64"]}
def sh(*a, **k): return subprocess.run(a, check=True, capture_output=True, text=True, **k)
NICE = ["nice", "-n", os.environ.get("NICE", "-20")]
def ns_exec(ns, *a): return ["ip", "netns", "exec", ns, *a]
def ns_run(ns, *a): return ["ip", "netns", "exec", ns, *NICE, *a]
def counters(ns):
    out = subprocess.run(ns_exec(ns, "cat", "/proc/net/netfilter/nfnetlink_queue"), capture_output=True, text=True).stdout
    return [list(map(int, l.split())) for l in out.splitlines() if l.strip()]
def one(cfg, impl, traffic, run):
    ns = f"nfqb-perf-b{os.getpid()}"
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    sh("ip", "netns", "add", ns)
    try:
        sh(*ns_exec(ns, "ip", "link", "set", "lo", "up"))
        flags = CONFIGS[cfg]
        f = None
        if flags is not None:
            nq = 2 if "--queues" in flags else 1
            q = ["--queue-balance", "0:1", "--queue-cpu-fanout"] if nq == 2 else ["--queue-num", "0"]
            for p in ("tcp", "udp"):
                sh(*ns_exec(ns, "iptables", "-A", "INPUT", "-p", p, "--dport", "5201", "-j", "NFQUEUE", *q))
            stats = f"/tmp/nfqb-perf-{os.getpid()}.json"
            if os.path.exists(stats): os.remove(stats)
            f = subprocess.Popen(ns_run(ns, f"{BIN}/{impl}-filter", *flags, "--stats", stats), stderr=subprocess.DEVNULL)
            t0 = time.time()
            while len(counters(ns)) < nq:
                time.sleep(0.02)
                if time.time() - t0 > 5: raise RuntimeError("not bound")
        srv = subprocess.Popen(ns_run(ns, "iperf3", "-s", "-1", "-p", "5201"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        cl = subprocess.run(ns_run(ns, "timeout", "40", "iperf3", "-c", "127.0.0.1", "-p", "5201", "-J", *TRAFFIC[traffic]), capture_output=True, text=True)
        srv.wait(timeout=10)
        j = json.loads(cl.stdout)
        e = j["end"]
        rec = {"load": os.getloadavg()[0], "cfg": cfg, "impl": impl if flags is not None else "none", "traffic": traffic, "run": run}
        if traffic == "tcp":
            rec["gbps"] = e["sum_received"]["bits_per_second"] / 1e9
        else:
            s = e["sum"]
            rec["pps"] = (s["packets"] - s["lost_packets"]) / s["seconds"]
            rec["sent_pps"] = s["packets"] / s["seconds"]
        if f is not None:
            time.sleep(0.3)
            k = counters(ns)
            f.send_signal(signal.SIGINT); f.wait(timeout=10)
            st = json.load(open(stats))
            rec["queued"] = sum(l[7] - l[6] for l in k)
            rec["queue_dropped"] = sum(l[5] for l in k)
            rec["user_dropped"] = sum(l[6] for l in k)
            for key in ("packets", "verdict_messages", "gso_packets", "cpu_user_us", "cpu_sys_us", "recv_errors"):
                rec[key] = st[key]
        return rec
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
def summary(path):
    import statistics as S
    g = {}
    for line in open(path):
        r = json.loads(line)
        g.setdefault((r["traffic"], r["cfg"], r["impl"]), []).append(r)
    for t, m in (("tcp", "gbps"), ("udp", "pps")):
        base = g.get((t, "nofilter", "none"))
        bmed = S.median(x[m] for x in base) if base else None
        for cfg in CONFIGS:
            for impl in ("none", "c", "rust"):
                runs = g.get((t, cfg, impl))
                if not runs:
                    continue
                v = [x[m] for x in runs]
                line = f"{t} {cfg:8} {impl:4} n={len(v)} median {S.median(v):.4g} range {min(v):.4g}-{max(v):.4g}"
                if bmed:
                    line += f" ({100 * S.median(v) / bmed:.0f}% of no filter)"
                if impl != "none":
                    pk = sum(x["packets"] for x in runs)
                    line += (f" | pkt/msg {pk / sum(x['verdict_messages'] for x in runs):.1f}"
                             f" cpu/pkt {sum(x['cpu_user_us'] + x['cpu_sys_us'] for x in runs) / pk * 1000:.0f} ns"
                             f" counted==queued {all(x['packets'] == x['queued'] for x in runs)}")
                print(line)
if sys.argv[1] == "--summary":
    summary(sys.argv[2])
    sys.exit(0)
out = open(sys.argv[1], "a")
reps = int(sys.argv[2])
cfgs = sys.argv[3:] or ["nofilter", "seed", "tuned1", "tuned2"]
trafs = os.environ.get("TRAFFIC", "tcp,udp").split(",")
for run in range(1, reps + 1):
    for traffic in trafs:
        for cfg in cfgs:
            for impl in (["c", "rust"] if CONFIGS[cfg] is not None else ["none"]):
                r = one(cfg, impl, traffic, run)
                print(json.dumps(r), flush=True)
                out.write(json.dumps(r) + "\n"); out.flush()
