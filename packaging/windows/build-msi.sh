#!/usr/bin/env bash
# Builds the Windows agent and its MSI here, with Debian's mingw-w64 and wixl.
#
#   packaging/windows/build-msi.sh [debug|release] [OUT.msi] [VERSION]
#
# Default: release, target/windows/pult-agent-VERSION.msi, the workspace's
# version. The tests use a debug build (quicker to make; the same code) and
# a second version to try upgrades.
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=${1:-release}
version=${3:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}
out=${2:-target/windows/pult-agent-$version.msi}
flag=(); [ "$profile" = release ] && flag=(--release)
cargo build "${flag[@]}" --target x86_64-pc-windows-gnu -p pult-agent --quiet
exe=target/x86_64-pc-windows-gnu/$profile/pult-agent.exe
mkdir -p "$(dirname "$out")"
wixl -a x64 -D Version="$version" -D AgentExe="$exe" -o "$out" packaging/windows/pult-agent.wxs
# wixl drops IncludeMaximum (512) from UpgradeVersion: without it a rebuild
# of the same version would be installed beside the old one instead of
# replacing it. Set it in the Upgrade table with msitools' own msibuild.
tables=$(mktemp -d)
trap 'rm -rf "$tables"' EXIT
msiinfo export "$out" Upgrade |
  awk -F'\t' 'BEGIN { OFS = "\t" } $7 ~ /^PULT_UPGRADE\r?$/ && int($5 / 512) % 2 == 0 { $5 += 512 } { print }' \
    >"$tables/Upgrade.idt"
msi=$(realpath "$out")
(cd "$tables" && msibuild "$msi" -i Upgrade.idt)
echo "$out"
