#!/usr/bin/env bash
# Debian packages of the site's browser test and asset install (as root): chromium, its driver, npm.
set -euo pipefail
need=()
command -v chromium > /dev/null || need+=(chromium)
command -v chromedriver > /dev/null || need+=(chromium-driver)
command -v npm > /dev/null || need+=(npm)
[ ${#need[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -q > /dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" > /dev/null
