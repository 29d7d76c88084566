#!/usr/bin/env bash
# bench/up.sh: `infraplane up` exec-to-Ready time, RSS and shutdown time.
#
# For each cloud (default: fakes emulators), on a fresh data directory:
#   1. exec `infraplane up --example quickstart` and time until
#      `kubectl wait --for=condition=Ready topics,subscriptions --all` succeeds;
#   2. read the process's VmRSS then, and again after 30 s idle;
#   3. SIGINT and time until the process has exited;
#   4. exec again on the same data directory: the objects persist, the
#      in-memory cloud does not, so the controllers create everything again.
#      Two times are reported: until `kubectl wait` succeeds (it does as
#      soon as the API server serves the persisted objects, whose status
#      still says Ready from the first run) and until every object's
#      resource has been re-created in the fresh cloud (a Recreated event
#      since the exec for each, and all Ready and Synced);
#   5. SIGINT again and time the shutdown.
#
# Usage: bench/up.sh [fakes] [emulators]     (IDLE=30 to change the idle wait)
# Needs: go, kubectl. The emulators run needs the gcloud Pub/Sub emulator.
set -euo pipefail

cd "$(dirname "$0")/.."
IDLE=${IDLE:-30}
TIMEOUT=${TIMEOUT:-180}
clouds=("$@")
[ ${#clouds[@]} -gt 0 ] || clouds=(fakes emulators)

# kubectl: $KUBECTL, else kubectl from PATH. The Cloud SDK's kubectl is a
# dispatcher that asks the server for its version before every command (and
# waits when the server is not up yet), which would distort the timings:
# use the newest versioned kubectl next to it instead.
KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || { echo "up.sh: kubectl not found (set KUBECTL)" >&2; exit 2; }
if [[ "$("$KUBECTL" version --client 2>/dev/null || true)" == *dispatcher* ]]; then
	direct=$(ls "$(dirname "$(readlink -f "$KUBECTL")")"/kubectl.1.* 2>/dev/null | sort -V | tail -n 1)
	[ -n "$direct" ] && KUBECTL=$direct
fi
kubectl() { "$KUBECTL" "$@"; }

echo "building bin/infraplane ..." >&2
go build -o bin/infraplane ./cmd/infraplane
BIN=$PWD/bin/infraplane

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

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
	echo "up.sh: no free port found" >&2
	return 1
}

# rss_kib PID: VmRSS of PID in KiB (0 if gone).
rss_kib() { awk '/^VmRSS:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# child_rss_kib PID: summed VmRSS of the process groups led by PID's
# children (the emulator and its JVM run in their own group).
child_rss_kib() {
	local parent=$1 total=0 pid stat rest ppid pgrp groups=" "
	for stat in /proc/[0-9]*/stat; do
		pid=${stat#/proc/}; pid=${pid%/stat}
		rest=$(sed 's/.*) //' "$stat" 2>/dev/null) || continue
		read -r _ ppid pgrp _ <<<"$rest"
		[ "$ppid" = "$parent" ] && groups+="$pgrp "
	done
	[ "$groups" = " " ] && { echo 0; return; }
	for stat in /proc/[0-9]*/stat; do
		pid=${stat#/proc/}; pid=${pid%/stat}
		rest=$(sed 's/.*) //' "$stat" 2>/dev/null) || continue
		read -r _ ppid pgrp _ <<<"$rest"
		case "$groups" in *" $pgrp "*) total=$((total + $(rss_kib "$pid"))) ;; esac
	done
	echo "$total"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }

PID=""
DATA=""
LOGDIR=$(mktemp -d -t infraplane-upbench-logs-XXXXXX)
cleanup() {
	local status=$?
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -INT "$PID" 2>/dev/null || true
		for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PID" 2>/dev/null || true # the kernel then kills its emulator (Pdeathsig)
	fi
	[ -n "$DATA" ] && rm -rf "$DATA"
	# The logs are kept only when something failed.
	if [ "$status" -eq 0 ]; then rm -rf "$LOGDIR"; else echo "up.sh: logs in $LOGDIR" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start CLOUD LOG: exec infraplane up in the background; sets PID and T0.
start() {
	T0=$(now)
	# --log-level=info: the phases below are read from up's info lines,
	# which otherwise go to DATA/up.log only.
	"$BIN" up --data-dir "$DATA" --port "$PORT" --pubsub-port "$PSPORT" \
		--metrics-bind-address 0 --example quickstart --cloud "$1" --log-level=info >"$2" 2>&1 &
	PID=$!
}

alive_or_fail() {
	if ! kill -0 "$PID" 2>/dev/null; then
		echo "up.sh: infraplane up exited early; last lines of $1:" >&2
		tail -n 20 "$1" >&2
		return 1
	fi
}

# wait_ready LOG: until kubectl wait says all 4 quickstart objects are Ready.
wait_ready() {
	local deadline=$(($(date +%s) + TIMEOUT))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		alive_or_fail "$1" || return 1
		if [ "$(kubectl get topics,subscriptions -o name --request-timeout=2s 2>/dev/null | wc -l)" -ge 4 ] &&
			kubectl wait --for=condition=Ready topics,subscriptions --all --timeout=60s >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "up.sh: not Ready within ${TIMEOUT}s; see $1" >&2
	return 1
}

# wait_resynced LOG SINCE: until each of the four objects has a Recreated
# event at or after SINCE (RFC 3339 UTC, whole seconds) — the controllers
# found its resource missing in the fresh cloud and created it again — and
# all are Ready and Synced. (status.lastSyncTime cannot tell: a pass that
# changes nothing else writes it at most once a minute.)
wait_resynced() {
	local deadline=$(($(date +%s) + TIMEOUT)) since=${2%Z} st ev
	local jp='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Synced")].status}{"\n"}{end}'
	local je='{range .items[*]}{.involvedObject.kind}/{.involvedObject.name} {.eventTime}{"\n"}{end}'
	while [ "$(date +%s)" -lt "$deadline" ]; do
		alive_or_fail "$1" || return 1
		if st=$(kubectl get topics,subscriptions -o jsonpath="$jp" --request-timeout=2s 2>/dev/null) &&
			[ "$(grep -c . <<<"$st")" -ge 4 ] &&
			awk 'NF < 3 || $2 != "True" || $3 != "True" { bad = 1 } END { exit bad }' <<<"$st" &&
			ev=$(kubectl get events --field-selector reason=Recreated -o jsonpath="$je" --request-timeout=2s 2>/dev/null) &&
			[ "$(awk -v s="$since" 'substr($2, 1, 19) >= s && !($1 in n) { n[$1] = 1; c++ } END { print c + 0 }' <<<"$ev")" -ge 4 ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "up.sh: objects not re-created within ${TIMEOUT}s; see $1" >&2
	return 1
}

# stop: SIGINT, wait for exit; sets SHUTDOWN (seconds).
stop() {
	local t
	t=$(now)
	kill -INT "$PID"
	wait "$PID" || true
	SHUTDOWN=$(elapsed "$t" "$(now)")
	PID=""
}

# logt LOG MSG: epoch seconds of the first log line with msg="MSG".
logt() {
	local ts
	ts=$(grep -m1 "msg=\"$2\"" "$1" | sed -n 's/^time=\([^ ]*\) .*/\1/p')
	[ -n "$ts" ] && date -d "$ts" +%s.%N
}

# phases LOG READY: "API server+CRDs a s, cloud b s, controllers c s" from
# up's INFO log: exec → cloud started minus the emulator's own start-up;
# the cloud's start-up; example applied → all Ready.
phases() {
	local tc ta emu
	tc=$(logt "$1" "local cloud started")
	ta=$(logt "$1" "applied example")
	emu=$(grep -m1 'msg="emulator ready"' "$1" | sed -n 's/.*startup=\([0-9.]*\)\(m*s\).*/\1 \2/p' |
		awk '{ print ($2 == "ms") ? $1 / 1000 : $1 }')
	emu=${emu:-0}
	[ -n "$tc" ] && [ -n "$ta" ] || { echo "–"; return; }
	awk -v t0="$T0" -v tc="$tc" -v ta="$ta" -v e="$emu" -v r="$2" \
		'BEGIN { printf "%.1f / %.1f / %.1f", tc - t0 - e, e, r - ta }'
}

upsays() { sed -n 's/^infraplane is up (\(.*\)s)$/\1 s/p' "$1" | tail -n 1; }

rows=()
for cloud in "${clouds[@]}"; do
	DATA=$(mktemp -d -t infraplane-upbench-XXXXXX)
	PORT=$(free_port)
	PSPORT=$(free_port)
	export KUBECONFIG=$DATA/kubeconfig
	log1=$LOGDIR/$cloud-1.log
	log2=$LOGDIR/$cloud-2.log
	echo "== --cloud $cloud (data dir $DATA, logs $LOGDIR)" >&2

	start "$cloud" "$log1"
	if ! wait_ready "$log1"; then
		if grep -qi "not installed" "$log1"; then
			echo "up.sh: --cloud $cloud skipped: $(grep -i -m1 'not installed' "$log1")" >&2
			wait "$PID" 2>/dev/null || true
			PID=""
			rm -rf "$DATA"
			DATA=""
			continue
		fi
		exit 1
	fi
	tready=$(now)
	ready1=$(elapsed "$T0" "$tready")
	phases1=$(phases "$log1" "$tready")
	rss1=$(rss_kib "$PID")
	crss1=$(child_rss_kib "$PID")
	echo "   first start: Ready after ${ready1}s, RSS $(mib "$rss1"); idling ${IDLE}s" >&2
	sleep "$IDLE"
	rss1idle=$(rss_kib "$PID")
	crss1idle=$(child_rss_kib "$PID")
	stop
	down1=$SHUTDOWN
	echo "   shutdown took ${down1}s" >&2

	sleep 1 # so that syncs of the first run are in an earlier second than the restart
	start "$cloud" "$log2"
	since=$(date -u -d "@${T0%.*}" +%Y-%m-%dT%H:%M:%SZ)
	wait_ready "$log2"
	stale2=$(elapsed "$T0" "$(now)")
	wait_resynced "$log2" "$since"
	tready=$(now)
	ready2=$(elapsed "$T0" "$tready")
	phases2=$(phases "$log2" "$tready")
	rss2=$(rss_kib "$PID")
	crss2=$(child_rss_kib "$PID")
	echo "   restart: kubectl wait after ${stale2}s, all re-created after ${ready2}s" >&2
	stop
	down2=$SHUTDOWN

	emu() { [ "$1" -gt 0 ] && mib "$1" || echo "–"; }
	rows+=("| $cloud | first start | ${ready1} s ($(upsays "$log1")) | – | $phases1 | $(mib "$rss1") / $(emu "$crss1") | $(mib "$rss1idle") / $(emu "$crss1idle") | ${down1} s |")
	rows+=("| $cloud | restart, same data dir | ${stale2} s ($(upsays "$log2")) | ${ready2} s | $phases2 | $(mib "$rss2") / $(emu "$crss2") | – | ${down2} s |")
	rm -rf "$DATA"
	DATA=""
done

echo
echo "\`bench/up.sh ${clouds[*]}\` — $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(go version | awk '{ print $3 }'), $(basename "$KUBECTL") $(kubectl version --client 2>/dev/null | awk '/Client Version/ { print $3 }'), idle ${IDLE} s"
echo
echo "| --cloud | run | exec → \`kubectl wait\` Ready (up's own \"is up\") | exec → all re-created in the cloud | s: API server + CRDs / cloud start / example applied → Ready | RSS at Ready: infraplane / emulator | RSS after ${IDLE} s idle: infraplane / emulator | SIGINT → exit |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for r in "${rows[@]}"; do echo "$r"; done
