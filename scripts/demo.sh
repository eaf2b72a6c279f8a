#!/usr/bin/env bash
# The demo classroom on this one machine.
#
# Makes a school with rooms 101 and 102 from a CSV, starts one agent per device
# on loopback addresses (127.0.0.11, ...) showing the synthetic classroom
# desktop, issues teacher Müller a room certificate for room 101, takes a
# screenshot of every device in 101, opens a web page on all of them, and shows
# that a device of room 102 is refused. Everything lives in a temporary
# directory, which is printed.
#
#   bash scripts/demo.sh          run the demo and stop the agents at the end
#   bash scripts/demo.sh --keep   leave the agents running to try pultctl by hand
#
# PULT_BIN_DIR=DIR uses binaries from DIR instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."

keep=no
[ "${1:-}" = "--keep" ] && keep=yes

if [ -z "${PULT_BIN_DIR:-}" ]; then
  echo "== building Pult (cargo build --workspace)"
  cargo build --workspace --quiet
  PULT_BIN_DIR=target/debug
fi
bin=$(cd "$PULT_BIN_DIR" && pwd)
registry() { "$bin/pult-registry" --db "$work/school.db" "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/pult-demo.XXXXXX")
pids=()
stop_agents() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
[ "$keep" = yes ] || trap stop_agents EXIT

echo "== a school with two rooms, in $work"
cat > "$work/devices.csv" <<'CSV'
name,room,position,inventory,mac,ip,description,tags,owner,steerable
R101-PC01,101,Reihe 1 Platz 1,INV-1011,02:00:00:00:01:01,127.0.0.11,,Physik,,yes
R101-PC02,101,Reihe 1 Platz 2,INV-1012,02:00:00:00:01:02,127.0.0.12,,Physik,,yes
R101-PC03,101,Reihe 2 Platz 1,INV-1013,02:00:00:00:01:03,127.0.0.13,,Physik,,yes
R101-LEHRER,101,Pult,INV-1019,02:00:00:00:01:09,127.0.0.19,Lehrer-PC,,,no
R102-PC01,102,Reihe 1 Platz 1,INV-1021,02:00:00:00:02:01,127.0.0.21,,,,yes
CSV
registry init --org "Gymnasium Am Park"
registry device import "$work/devices.csv"
registry user add mueller --group lehrer
registry group authorize lehrer
registry device list

echo "== one agent per device, on the synthetic desktop"
cat > "$work/open-url.sh" <<'SH'
#!/bin/sh
# Stands in for the browser: notes which page it was asked to open.
printf '%s\n' "$1" >> "$(dirname "$0")/opened-urls.txt"
SH
chmod +x "$work/open-url.sh"
for device in R101-PC01 R101-PC02 R101-PC03 R101-LEHRER R102-PC01; do
  registry agent-bundle "$device" --out "$work/agents/$device" > /dev/null
  "$bin/pult-agent" --bundle "$work/agents/$device" --screen synthetic \
    --url-opener "$work/open-url.sh" > "$work/agents/$device/stdout" 2> "$work/agents/$device/stderr" &
  pids+=("$!")
done
for device in R101-PC01 R101-PC02 R101-PC03 R101-LEHRER R102-PC01; do
  for _ in $(seq 100); do grep -q "listening on" "$work/agents/$device/stdout" 2>/dev/null && break; sleep 0.1; done
  grep -q "listening on" "$work/agents/$device/stdout" || { cat "$work/agents/$device/stderr"; exit 1; }
  echo "$device: $(cat "$work/agents/$device/stdout")"
done

echo "== teacher mueller gets a room certificate for room 101"
registry room-cert 101 --user mueller --out "$work/cert-101"

echo "== screenshots of room 101"
for device in R101-PC01 R101-PC02 R101-PC03; do
  "$bin/pultctl" --cert "$work/cert-101" screenshot "$device" --out "$work/shots/$device.png"
done

echo "== a web page on every steerable device of room 101"
"$bin/pultctl" --cert "$work/cert-101" open-url "https://example.org/arbeitsblatt"

echo "== room 102 is not for this certificate"
if "$bin/pultctl" --cert "$work/cert-101" screenshot R102-PC01 --out "$work/shots/R102-PC01.png"; then
  echo "error: a device of room 102 was reached with the certificate for 101" >&2
  exit 1
fi
echo "== and the teacher's own PC is not steerable: its agent refuses"
if "$bin/pultctl" --cert "$work/cert-101" screenshot R101-LEHRER --out "$work/shots/R101-LEHRER.png"; then
  echo "error: a device marked not steerable was reached" >&2
  exit 1
fi

echo "== what the agent of R101-PC01 logged"
cat "$work"/agents/R101-PC01/audit/*.jsonl

echo
echo "Screenshots: $work/shots/ ($(ls "$work/shots" | wc -l) files)"
if [ "$keep" = yes ]; then
  echo "The agents keep running (pids ${pids[*]}). Try:"
  echo "  $bin/pultctl --cert $work/cert-101 screenshot R101-PC02 --out /tmp/pc02.png"
  echo "Stop them with: kill ${pids[*]}"
fi
