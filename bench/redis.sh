#!/usr/bin/env bash
# The Redis benchmarks on a dedicated redis-server: started here on a free
# port, pinned to CPU 1 with taskset, while the benchmark runs pinned to
# CPU 0 with GOMAXPROCS=1, so the two never compete for a core. The shared
# Redis on 6379 is never touched.
# usage: bench/redis.sh [benchtime=1s] [count=6] [bench regexp=Redis]
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${1:-1s}
count=${2:-6}
match=${3:-Redis}
dir=$(mktemp -d)
# a port nothing listens on (bash's /dev/tcp connects, or fails)
for _ in $(seq 1 100); do
	port=$((20000 + RANDOM % 40000))
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
taskset -c 1 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$dir" --logfile "$dir/redis.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
echo "# redis-server $(redis-server --version | awk '{print $3}') on 127.0.0.1:$port, pid $pid, CPU 1; benchmark GOMAXPROCS=1 on CPU 0"
go test -c -o "$dir/bench.test" ./bench
cd bench
CRUMBS_BENCH_REDIS=127.0.0.1:$port GOMAXPROCS=1 taskset -c 0 \
	"$dir/bench.test" -test.run '^$' -test.bench "$match" -test.benchtime "$benchtime" -test.count "$count" -test.benchmem
