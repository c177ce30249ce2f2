#!/usr/bin/env bash
# Renders DIR/report.html to DIR/report.png with headless Chromium, failing if Chromium
# fails or writes no image. Checks by eye that Chinese text and the charts render.
# Needs (Debian/Ubuntu): apt-get install chromium fonts-noto-cjk
# Usage: scripts/render-report.sh DIR [OUT.png]
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DIR [OUT.png]" >&2
    exit 2
fi
dir=$1
html="$dir/report.html"
out=${2:-"$dir/report.png"}
if [ ! -f "$html" ]; then
    echo "error: $html not found; write it with 'xiang report $dir' first" >&2
    exit 2
fi

browser=""
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
        browser=$candidate
        break
    fi
done
if [ -z "$browser" ]; then
    echo "error: no Chromium found; install it with: apt-get install chromium fonts-noto-cjk" >&2
    exit 2
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
case "$out" in
    /*) abs_out=$out ;;
    *) abs_out=$(pwd)/$out ;;
esac
rm -f "$abs_out"

"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --screenshot="$abs_out" --window-size=1200,3000 \
    "file://$abs_html"

if [ ! -s "$abs_out" ]; then
    echo "error: Chromium wrote no image to $abs_out" >&2
    exit 1
fi
echo "rendered $abs_out"
