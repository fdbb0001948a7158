#!/usr/bin/env bash
# Renders the app icons (public/icon-192.png, icon-512.png, apple-touch-icon.png) from the
# favicon's drawing with Debian's headless Chromium. The icons are full-bleed squares with the
# mark inside the middle 80 %, so a launcher may crop them to any shape ("maskable").
# The PNGs are committed; run this again after changing public/favicon.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium=${CHROMIUM:-chromium}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The favicon without its rounded corners, the mark scaled into the safe zone.
sed -e 's/rx="15"//' \
  -e 's#<path #<path transform="translate(6.4 6.4) scale(.8)" #g' public/favicon.svg >"$tmp/icon.svg"
for spec in icon-192:192 icon-512:512 apple-touch-icon:180; do
  name=${spec%%:*} size=${spec##*:}
  cat >"$tmp/$name.html" <<HTML
<!doctype html><style>html,body{margin:0;background:transparent}img{display:block;width:${size}px;height:${size}px}</style><img src="icon.svg">
HTML
  "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --default-background-color=00000000 \
    --window-size="$size,$size" --screenshot="$tmp/$name.png" "file://$tmp/$name.html" >/dev/null 2>&1
  cp "$tmp/$name.png" "public/$name.png"
done
file public/*.png 2>/dev/null || ls -l public/*.png
