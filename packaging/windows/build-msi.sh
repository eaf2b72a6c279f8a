#!/usr/bin/env bash
# Builds the Windows agent and its MSI here, with Debian's mingw-w64 and wixl.
#
#   packaging/windows/build-msi.sh [debug|release] [OUT.msi]
#
# Default: release, target/windows/pult-agent-VERSION.msi. The tests use a
# debug build (quicker to make; the same code).
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=${1:-release}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out=${2:-target/windows/pult-agent-$version.msi}
flag=(); [ "$profile" = release ] && flag=(--release)
cargo build "${flag[@]}" --target x86_64-pc-windows-gnu -p pult-agent --quiet
exe=target/x86_64-pc-windows-gnu/$profile/pult-agent.exe
mkdir -p "$(dirname "$out")"
wixl -a x64 -D Version="$version" -D AgentExe="$exe" -o "$out" packaging/windows/pult-agent.wxs
echo "$out"
