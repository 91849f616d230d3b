#!/usr/bin/env bash
# Debian packages the project needs on a fresh machine: a Java 17 runtime and Maven (the
# Kafka broker), Python's venv module, Node.js and npm (the browser SDK bundle the gateway
# serves). Chromium for the browser tests comes from `make chromium`.
# Installs only what is missing; needs root (or sudo) only when something is missing.
set -euo pipefail

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v python3 >/dev/null || missing+=(python3)
# Debian splits venv/ensurepip out of python3.
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing Debian packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
