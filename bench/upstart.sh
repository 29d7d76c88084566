#!/usr/bin/env bash
# bench/upstart.sh: `infraplane up` exec → "infraplane is up", and SIGINT →
# exit, for binaries compared with each other (e.g. before and after a
# change).
#
# Each round runs every binary once, in turn, on a fresh data directory
# (first start: certificates are generated) and then again on the same
# directory (restart), with --cloud fakes and no example, on free ports. It
# prints one line per run and the median per binary.
#
# Usage: bench/upstart.sh [-n ROUNDS] BINARY...     (default 5 rounds)
#   go build -o /tmp/ip-after ./cmd/infraplane
#   bench/upstart.sh -n 7 /tmp/ip-before /tmp/ip-after
#   UP_ARGS="--example quickstart" bench/upstart.sh /tmp/ip-before /tmp/ip-after
set -euo pipefail

ROUNDS=5
if [ "${1:-}" = "-n" ]; then
	ROUNDS=$2
	shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [-n ROUNDS] BINARY..." >&2; exit 2; }
TIMEOUT=${TIMEOUT:-120}

now() { date +%s.%N; }

# free_port prints a TCP port nobody listens on (random, checked with ss).
free_port() {
	local used p
	used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | sort -u)
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		if ! grep -qx "$p" <<<"$used"; then
			echo "$p"
			return
		fi
	done
	echo "upstart.sh: no free port found" >&2
	return 1
}

PID=""
WORK=$(mktemp -d -t infraplane-upstart-XXXXXX)
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -INT "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cpu PID: user+system CPU seconds PID has used so far (less sensitive to
# other work on the machine than wall time).
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }

# run BINARY DATA LOG: exec up; print seconds until stdout says it is up and
# the CPU seconds it used until then; stop it with SIGINT and print seconds
# until it exited.
run() {
	local t0 t1 c deadline
	: >"$3"
	t0=$(now)
	"$1" up --data-dir "$2" --cloud fakes --port "$(free_port)" --pubsub-port 0 \
		--webhook-port "$(free_port)" --metrics-bind-address 0 --hooks-bind-address 0 \
		${UP_ARGS:-} >"$3" 2>&1 &
	PID=$!
	deadline=$(($(date +%s) + TIMEOUT))
	until grep -q '^infraplane is up' "$3"; do
		if ! kill -0 "$PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
			echo "upstart.sh: $1 did not come up; last lines:" >&2
			tail -n 20 "$3" >&2
			return 1
		fi
		sleep 0.01
	done
	t1=$(now)
	c=$(cpu "$PID")
	kill -INT "$PID"
	wait "$PID" || true
	PID=""
	awk -v a="$t0" -v b="$t1" -v c="$(now)" -v cpu="$c" 'BEGIN { printf "%.2f %s %.2f\n", b - a, cpu, c - b }'
}

declare -A times
for r in $(seq 1 "$ROUNDS"); do
	for bin in "$@"; do
		data=$WORK/data-$r-$(basename "$bin")
		mkdir -p "$data"
		read -r first cpu1 stop1 < <(run "$bin" "$data" "$WORK/first.log")
		read -r restart cpu2 stop2 < <(run "$bin" "$data" "$WORK/restart.log")
		[ -n "$first" ] && [ -n "$restart" ] || exit 1
		echo "round $r  $bin  first start ${first} s (cpu ${cpu1} s)  restart ${restart} s (cpu ${cpu2} s)  shutdown ${stop1} s, ${stop2} s  (load $(cut -d' ' -f1 /proc/loadavg))"
		times[$bin,first]+="$first "
		times[$bin,restart]+="$restart "
		times[$bin,cpu1]+="$cpu1 "
		times[$bin,cpu2]+="$cpu2 "
		times[$bin,stop]+="$stop1 $stop2 "
		rm -rf "$data"
	done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for bin in "$@"; do
	echo "median  $bin  first start $(median <<<"${times[$bin,first]}") s (cpu $(median <<<"${times[$bin,cpu1]}") s)  restart $(median <<<"${times[$bin,restart]}") s (cpu $(median <<<"${times[$bin,cpu2]}") s)  shutdown $(median <<<"${times[$bin,stop]}") s"
done
