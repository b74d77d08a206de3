#!/usr/bin/env bash
# Rebuilds the vendored chart library that observe/dashboard embeds from the
# npm package pinned in package-lock.json. The built files are committed, so
# `go build` never needs Node; run this only to change the library's version.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
cp node_modules/uplot/dist/uPlot.iife.min.js ../assets/uplot.min.js
cp node_modules/uplot/dist/uPlot.min.css ../assets/uplot.min.css
cp node_modules/uplot/LICENSE ../assets/uplot.LICENSE
echo "assets rebuilt from uplot $(node -p "require('./node_modules/uplot/package.json').version")"
