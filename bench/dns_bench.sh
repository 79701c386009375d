#!/usr/bin/env bash
# DNS benchmark: dnsperf against the cluster DNS server (bench/dns_serve.cc)
# and against dnsmasq answering the same N service names from a hosts file,
# in the same run on loopback. Prints Markdown rows for docs/benchmarks.md:
# throughput (dnsperf -c/-T 2, -q outstanding, -l seconds) and latency
# percentiles from a second, rate-limited run with per-query timings (-v).
# Both servers are started here and stopped by PID on exit, also on failure.
# Usage: bench/dns_bench.sh [BUILD_DIR]
#   env: DNS_BENCH_SERVICES (1000), DNS_BENCH_SECONDS (10), DNS_BENCH_OUTSTANDING (20),
#        DNS_BENCH_LATENCY_QPS (10000), DNS_BENCH_THREADS (server UDP threads, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
N=${DNS_BENCH_SERVICES:-1000}
SECS=${DNS_BENCH_SECONDS:-10}
OUTSTANDING=${DNS_BENCH_OUTSTANDING:-20}
LAT_QPS=${DNS_BENCH_LATENCY_QPS:-10000}
THREADS=${DNS_BENCH_THREADS:-2}
command -v dnsperf >/dev/null || { echo "dns_bench: dnsperf is not installed (apt-get install dnsperf)" >&2; exit 1; }
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || { echo "dns_bench: dnsmasq is not installed" >&2; exit 1; }
cmake --build "$BUILD" -j2 --target dns_serve >/dev/null

DIR=$(mktemp -d /tmp/minik8s-dnsbench.XXXXXX)
OURS=""
MASQ=""
cleanup() {
  for p in $OURS $MASQ; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $OURS $MASQ; do wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT

for ((i = 0; i < N; i++)); do
  echo "svc-$i.default.svc.cluster.local A" >>"$DIR/queries"
  echo "10.96.$((i / 250)).$((i % 250 + 1)) svc-$i.default.svc.cluster.local" >>"$DIR/hosts"
done

# A port free for both UDP and TCP on 127.0.0.1.
free_port() {
  /usr/bin/python3 - <<'PY'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
PY
}
# Polls until PORT answers svc-0 with NOERROR (5 s).
wait_answering() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
name = b"".join(bytes([len(l)]) + l for l in b"svc-0.default.svc.cluster.local".split(b".")) + b"\0"
q = struct.pack(">HHHHHH", 7, 0x100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
end = time.time() + 5
while time.time() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
    try:
        s.sendto(q, ("127.0.0.1", port)); r = s.recv(512)
        if r[3] & 0xF == 0 and struct.unpack(">H", r[6:8])[0] > 0: sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit(1)
PY
}

"$BUILD/bin/dns_serve" --port 0 --services "$N" --threads "$THREADS" >"$DIR/ours.log" 2>&1 &
OURS=$!
OURS_PORT=""
for _ in $(seq 100); do
  OURS_PORT=$(awk '/^ready /{print $2}' "$DIR/ours.log")
  [ -n "$OURS_PORT" ] && break
  kill -0 "$OURS" 2>/dev/null || break
  sleep 0.05
done
[ -n "$OURS_PORT" ] || { echo "dns_serve did not start" >&2; cat "$DIR/ours.log" >&2; exit 1; }
MASQ_PORT=$(free_port)
"$DNSMASQ" --no-daemon --no-resolv --no-hosts --addn-hosts="$DIR/hosts" --port "$MASQ_PORT" \
  --listen-address 127.0.0.1 --bind-interfaces --pid-file= --local-ttl=5 --log-facility="$DIR/dnsmasq.log" \
  >"$DIR/dnsmasq.out" 2>&1 &
MASQ=$!
wait_answering "$OURS_PORT" || { echo "dns_serve does not answer" >&2; cat "$DIR/ours.log" >&2; exit 1; }
wait_answering "$MASQ_PORT" || { echo "dnsmasq does not answer" >&2; cat "$DIR/dnsmasq.out" >&2; exit 1; }

# throughput PORT → "QPS lost avg_ms"
throughput() {
  local out
  out=$(dnsperf -s 127.0.0.1 -p "$1" -d "$DIR/queries" -l "$SECS" -c 2 -T 2 -q "$OUTSTANDING" 2>&1)
  awk '/Queries per second:/{q=$4} /Queries lost:/{l=$3} /Average Latency/{a=$4*1000}
       END{printf "%d %s %.3f\n", q, l, a}' <<<"$out"
}
# latency PORT → "p50_ms p99_ms max_ms NOERROR_fraction" at LAT_QPS for 3 s.
latency() {
  dnsperf -s 127.0.0.1 -p "$1" -d "$DIR/queries" -l 3 -c 2 -T 2 -Q "$LAT_QPS" -v 2>/dev/null |
    awk '/^> /{n++; if ($2=="NOERROR") ok++; print $5*1000 > "/dev/stderr"} END{printf "%f\n", (n?ok/n:0)}' \
      2>"$DIR/lat" >"$DIR/ok"
  sort -g "$DIR/lat" | awk -v ok="$(cat "$DIR/ok")" '{v[NR]=$1} END{
    if (NR==0) {print "0 0 0 0"; exit}
    i50=int(NR*0.50); if(i50<1)i50=1; i99=int(NR*0.99); if(i99<1)i99=1;
    printf "%.3f %.3f %.3f %.4f\n", v[i50], v[i99], v[NR], ok}'
}

read -r our_qps our_lost our_avg < <(throughput "$OURS_PORT")
read -r masq_qps masq_lost masq_avg < <(throughput "$MASQ_PORT")
read -r our_p50 our_p99 our_max our_ok < <(latency "$OURS_PORT")
read -r masq_p50 masq_p99 masq_max masq_ok < <(latency "$MASQ_PORT")

echo "| DNS: minik8s cluster DNS, $N service names, dnsperf -c 2 -T 2 -q $OUTSTANDING, ${SECS} s | $our_qps QPS (avg $our_avg ms, lost $our_lost) | ≥ 60,000 QPS on 2 cores |"
echo "| DNS: dnsmasq $("$DNSMASQ" --version | awk 'NR==1{print $3}'), same names from a hosts file, same run (baseline) | $masq_qps QPS (avg $masq_avg ms, lost $masq_lost) | |"
echo "| DNS latency at $LAT_QPS QPS, minik8s | p50 $our_p50 ms, p99 $our_p99 ms, max $our_max ms (NOERROR $our_ok) | p99 < 1 ms |"
echo "| DNS latency at $LAT_QPS QPS, dnsmasq (baseline) | p50 $masq_p50 ms, p99 $masq_p99 ms, max $masq_max ms (NOERROR $masq_ok) | |"
