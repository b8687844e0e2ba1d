#!/usr/bin/env bash
# HTTP load on one shared session: wrk with 32 connections that all carry
# one session cookie, each request changing one key of it, against crumbs
# (server mode, Redis) and scs (its Redis store), alternated in one run.
# usage: bench/wrk.sh [duration=10s] [rounds=3]; prints requests/s and the
# non-2xx count per run, then the ratio; fails if crumbs answered anything
# but 200, or lost a key. Needs wrk (apt-get install wrk) and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
rounds=${2:-3}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/loadserver" ./bench/loadserver
port=$((18200 + RANDOM % 500))
declare -A total
fail=0
for round in $(seq 1 "$rounds"); do
	for sys in crumbs scs; do
		prefix="crumbs-wrk:$sys:$round:$RANDOM:"
		"$tmp/loadserver" -system "$sys" -addr "127.0.0.1:$port" -prefix "$prefix" &
		pid=$!
		for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/count" >/dev/null 2>&1 && break; sleep 0.1; done
		cookie=$(curl -fsi "http://127.0.0.1:$port/prime" | tr -d '\r' | sed -n 's/^Set-Cookie: \([^;]*\).*/\1/Ip' | head -1)
		out=$(wrk -t2 -c32 -d"$dur" -s bench/wrk.lua -H "Cookie: $cookie" "http://127.0.0.1:$port")
		rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
		bad=$(echo "$out" | awk '/Non-2xx/ {print $5}')
		bad=${bad:-0}
		keys=$(curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$port/count")
		echo "round $round $sys: $rps requests/s, $bad non-2xx, $keys keys in the session"
		total[$sys]=$(echo "${total[$sys]:-0} + $rps" | bc)
		if [ "$sys" = crumbs ] && { [ "$bad" != 0 ] || [ "$keys" != 101 ]; }; then fail=1; fi
		kill "$pid"; wait "$pid" 2>/dev/null || true
		redis-cli --scan --pattern "$prefix*" | xargs -r redis-cli del >/dev/null
		port=$((port + 1))
	done
done
echo "crumbs/scs requests/s over $rounds rounds: $(echo "scale=2; ${total[crumbs]} / ${total[scs]}" | bc)"
exit $fail
