#!/usr/bin/env bash
# Install (or upgrade) quantum-calc as a systemd service from this checkout.
#
# Idempotent: running it again rebuilds, replaces the installed code and unit, and leaves the
# operator's config alone. `--dry-run` prints every action it would take and changes nothing;
# the read-only checks (node version, does the user exist, is the config there) still run so
# the printed plan is the one a real run would carry out.
#
# Exit codes: 0 done, 1 a check or an action failed, 2 bad usage.
set -euo pipefail

# Files we create must be readable by the service user (code) or by root only (secrets are
# not created here). 022 gives root-owned, world-readable code; the config is chmod'ed.
umask 022

readonly SERVICE_NAME=quantum-calc
readonly SERVICE_USER=quantum-calc
# Keep in step with "engines" in package.json.
readonly MIN_NODE_MAJOR=20
readonly MIN_NODE_MINOR=19

# The checkout this script belongs to, whatever the current directory is.
CHECKOUT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly CHECKOUT

PREFIX=/opt/quantum-calc
CONFIG_DIR=/etc/quantum
UNIT_DIR=/etc/systemd/system
BIN_DIR=/usr/local/bin
NODE_BIN=""
DRY_RUN=0
BUILD=1
PRINT_UNIT=0

usage() {
  cat <<EOF
Usage: deploy/install.sh [options]

Builds quantum-calc from this checkout and installs it as the systemd service
${SERVICE_NAME}.service (run as root).

Options:
  --dry-run           print every action that would be taken; change nothing (no root needed)
  --prefix DIR        where the code goes (default: /opt/quantum-calc)
  --config-dir DIR    where quantum-calc.json, the env file and the Redis password live
                      (default: /etc/quantum)
  --bin-dir DIR       where the 'quantum-calc' CLI wrapper goes (default: /usr/local/bin)
  --no-build          do not run 'npm ci && npm run build'; install the dist/ already built
  --node PATH         the node binary the unit runs (default: 'command -v node')
  --print-unit        print the unit file as it would be installed, and exit
  -h, --help          this help

Steps: check node >= ${MIN_NODE_MAJOR}.${MIN_NODE_MINOR}; build; copy package.json, package-lock.json and
dist/ into the prefix and install the production dependencies there; create the system user
'${SERVICE_USER}'; install the example config only if no config exists; install the unit into
${UNIT_DIR}; systemctl daemon-reload. The service is neither enabled nor started: see
deploy/MIGRATION.md.
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
usage_error() { echo "install.sh: $*" >&2; echo "Try 'deploy/install.sh --help'." >&2; exit 2; }
note() { echo "==> $*"; }

# Every action that changes the system goes through run (or run_in), so that --dry-run shows
# exactly the commands a real run executes, quoted so they can be copied into a shell.
run() {
  if [ "$DRY_RUN" -eq 1 ]; then
    echo "[dry-run] $(quote "$@")"
  else
    echo "+ $(quote "$@")"
    "$@"
  fi
}

# run, in another directory (npm works on the current directory).
run_in() {
  local dir="$1"
  shift
  if [ "$DRY_RUN" -eq 1 ]; then
    echo "[dry-run] (cd $(quote "$dir") && $(quote "$@"))"
  else
    echo "+ (cd $(quote "$dir") && $(quote "$@"))"
    (cd "$dir" && "$@")
  fi
}

quote() {
  local out="" arg
  for arg in "$@"; do
    out+="$(printf '%q' "$arg") "
  done
  printf '%s' "${out% }"
}

# Paths end up in the unit file, where whitespace and specifiers (%) would need quoting, and
# in sed replacements; accepting only plain absolute paths keeps both simple and safe.
check_path() {
  local what="$1" path="$2"
  [[ "$path" == /* ]] || usage_error "$what must be an absolute path, got '$path'"
  [[ "$path" =~ ^[A-Za-z0-9._/+@-]+$ ]] ||
    usage_error "$what may contain only letters, digits and . _ / + @ -, got '$path'"
  # ProtectHome=yes in the unit hides these from the service.
  case "$path" in
    /home | /home/* | /root | /root/* | /run/user | /run/user/*)
      usage_error "$what '$path' is under /home, /root or /run/user, which the unit's ProtectHome=yes hides from the service"
      ;;
  esac
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      --no-build) BUILD=0 ;;
      --print-unit) PRINT_UNIT=1 ;;
      --prefix | --config-dir | --bin-dir | --node)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        case "$1" in
          --prefix) PREFIX="$2" ;;
          --config-dir) CONFIG_DIR="$2" ;;
          --bin-dir) BIN_DIR="$2" ;;
          --node) NODE_BIN="$2" ;;
        esac
        shift
        ;;
      --prefix=*) PREFIX="${1#*=}" ;;
      --config-dir=*) CONFIG_DIR="${1#*=}" ;;
      --bin-dir=*) BIN_DIR="${1#*=}" ;;
      --node=*) NODE_BIN="${1#*=}" ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) usage_error "unknown option '$1'" ;;
    esac
    shift
  done
  PREFIX="${PREFIX%/}"
  CONFIG_DIR="${CONFIG_DIR%/}"
  BIN_DIR="${BIN_DIR%/}"
  if [ -z "$NODE_BIN" ]; then
    NODE_BIN="$(command -v node || true)"
    [ -n "$NODE_BIN" ] || die "node is not on PATH; install Node.js >= ${MIN_NODE_MAJOR}.${MIN_NODE_MINOR} or pass --node PATH"
  fi
  check_path --prefix "$PREFIX"
  check_path --config-dir "$CONFIG_DIR"
  check_path --bin-dir "$BIN_DIR"
  check_path --node "$NODE_BIN"
}

# The unit in the checkout names the default locations; rewrite them for this install.
render_unit() {
  sed -e "s|/opt/quantum-calc|${PREFIX}|g" \
    -e "s|/etc/quantum/|${CONFIG_DIR}/|g" \
    -e "s|/usr/bin/node|${NODE_BIN}|g" \
    "$CHECKOUT/deploy/systemd/${SERVICE_NAME}.service"
}

check_node() {
  [ -x "$NODE_BIN" ] || die "node binary '$NODE_BIN' is not executable"
  local version major minor
  version="$("$NODE_BIN" -p 'process.versions.node')" || die "'$NODE_BIN' did not report a version"
  IFS=. read -r major minor _ <<<"$version"
  if [ "$major" -lt "$MIN_NODE_MAJOR" ] ||
    { [ "$major" -eq "$MIN_NODE_MAJOR" ] && [ "$minor" -lt "$MIN_NODE_MINOR" ]; }; then
    die "node $version at $NODE_BIN is too old: quantum-calc needs >= ${MIN_NODE_MAJOR}.${MIN_NODE_MINOR}"
  fi
  note "node $version at $NODE_BIN"
  command -v npm >/dev/null || die "npm is not on PATH (it installs the production dependencies)"
}

build() {
  if [ "$BUILD" -eq 1 ]; then
    note "building in $CHECKOUT"
    run_in "$CHECKOUT" npm ci --no-audit --no-fund
    run_in "$CHECKOUT" npm run build
  else
    note "--no-build: installing the dist/ already built in $CHECKOUT"
    if [ ! -f "$CHECKOUT/dist/src/cli.js" ]; then
      [ "$DRY_RUN" -eq 1 ] || die "$CHECKOUT/dist/src/cli.js is missing: build first (npm run build) or drop --no-build"
      echo "[dry-run] warning: $CHECKOUT/dist/src/cli.js is missing; a real run with --no-build would stop here"
    fi
  fi
}

install_code() {
  note "installing the code into $PREFIX"
  run install -d -m 0755 "$PREFIX" "$PREFIX/deploy" "$PREFIX/deploy/prometheus" "$PREFIX/config"
  run install -m 0644 "$CHECKOUT/package.json" "$CHECKOUT/package-lock.json" "$PREFIX/"
  run install -m 0644 "$CHECKOUT/deploy/MIGRATION.md" "$PREFIX/deploy/"
  # The harvest alert rules (deploy/MIGRATION.md step 5 installs them into Prometheus).
  run install -m 0644 "$CHECKOUT/deploy/prometheus/quantum-harvest-alerts.yml" "$PREFIX/deploy/prometheus/"
  run install -m 0644 "$CHECKOUT/config/quantum-calc.example.json" "$PREFIX/config/"
  # Copy beside, then swap: files removed from dist/ in this version do not linger, and the
  # installed tree is never half old, half new.
  run rm -rf "$PREFIX/dist.new" "$PREFIX/dist.old"
  run cp -R "$CHECKOUT/dist" "$PREFIX/dist.new"
  if [ -e "$PREFIX/dist" ]; then
    run mv -T "$PREFIX/dist" "$PREFIX/dist.old"
  fi
  run mv -T "$PREFIX/dist.new" "$PREFIX/dist"
  run rm -rf "$PREFIX/dist.old"
  # Production dependencies only; --ignore-scripts because "prepare" would run tsc, which is
  # a dev dependency and not needed: dist/ is already built.
  run_in "$PREFIX" npm ci --omit=dev --ignore-scripts --no-audit --no-fund
}

ensure_user() {
  if getent passwd "$SERVICE_USER" >/dev/null; then
    note "system user $SERVICE_USER exists"
  else
    note "creating system user $SERVICE_USER"
    run useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "quantum-calc service" "$SERVICE_USER"
  fi
}

install_config() {
  local config="$CONFIG_DIR/${SERVICE_NAME}.json" password="$CONFIG_DIR/redis-password"
  if [ -d "$CONFIG_DIR" ]; then
    # It may hold the old services' files: never change its owner or mode.
    note "config directory $CONFIG_DIR exists (owner and mode left as they are)"
  else
    note "creating config directory $CONFIG_DIR"
    run install -d -m 0750 -o root -g "$SERVICE_USER" "$CONFIG_DIR"
  fi
  if [ -e "$config" ]; then
    note "keeping the existing $config (never overwritten)"
    if [ "$DRY_RUN" -eq 0 ] && ! runuser -u "$SERVICE_USER" -- test -r "$config"; then
      echo "install.sh: warning: user $SERVICE_USER cannot read $config; the service will exit 2." >&2
      echo "  fix: chgrp $SERVICE_USER $config && chmod 0640 $config (and o+x or g+x on $CONFIG_DIR)" >&2
    fi
  else
    note "installing the example config as $config"
    run install -m 0640 -o root -g "$SERVICE_USER" \
      "$CHECKOUT/config/quantum-calc.example.json" "$config"
  fi
  # The unit loads this file as the redis-password credential. Empty means "no password".
  # It exists so that the unit starts even on systemd < 250, where the unit's fallback for a
  # missing credential file is not available. Only root reads it: systemd copies it for the
  # service.
  if [ -e "$password" ]; then
    note "keeping the existing $password"
  else
    note "creating an empty $password (no password; put one in it if Redis needs it)"
    run install -m 0600 -o root -g root /dev/null "$password"
  fi
}

# Install a file whose content a function generates: the content goes to a temporary file
# (removed on exit) and is installed from there, only when it differs from what is in place.
install_generated() {
  local generator="$1" target="$2" mode="$3" what="$4" generated
  generated="$(mktemp)"
  GENERATED_FILES+=("$generated")
  "$generator" >"$generated"
  if [ -f "$target" ] && cmp -s "$generated" "$target"; then
    note "$what $target is up to date"
    return 0
  fi
  note "installing $what as $target"
  if [ "$DRY_RUN" -eq 1 ]; then
    # What would be installed, in the operator's terms: the target, its mode and the command it
    # runs (`--print-unit` shows the whole unit) - not the temporary file it is generated into.
    echo "[dry-run] install -m $mode <generated $what> $target"
    echo "[dry-run]   it runs: $(grep -m1 -E '^(ExecStart=|exec )' "$generated" | sed -e 's/^ExecStart=//' -e 's/^exec //')"
    return 0
  fi
  run install -m "$mode" "$generated" "$target"
}
GENERATED_FILES=()
cleanup() { if [ ${#GENERATED_FILES[@]} -gt 0 ]; then rm -f "${GENERATED_FILES[@]}"; fi; }
trap cleanup EXIT

# `quantum-calc ...` on the operator's PATH (deploy/MIGRATION.md uses it), running the same
# node and code as the unit.
render_wrapper() {
  printf '%s\n' \
    '#!/bin/sh' \
    "# Generated by quantum-calc's deploy/install.sh: the CLI with the node and code the unit runs." \
    "exec ${NODE_BIN} ${PREFIX}/dist/src/cli.js \"\$@\""
}

install_unit() {
  install_generated render_unit "$UNIT_DIR/${SERVICE_NAME}.service" 0644 "the unit"
  run systemctl daemon-reload
  install_generated render_wrapper "$BIN_DIR/${SERVICE_NAME}" 0755 "the CLI wrapper"
}

next_steps() {
  local active=""
  if [ "$DRY_RUN" -eq 0 ] && systemctl is-active --quiet "$SERVICE_NAME"; then
    active=1
  fi
  if [ "$DRY_RUN" -eq 1 ]; then
    printf '\nDry run done: nothing was changed. A real run would end with:\n'
  else
    printf '\nInstalled.\n'
  fi
  cat <<EOF
Next steps:
  1. Edit $CONFIG_DIR/${SERVICE_NAME}.json (symbols, intervals, redisUrl).
     A Redis password goes in $CONFIG_DIR/redis-password (root:root 0600; the unit passes it
     as a systemd credential), never in the config or on the command line.
  2. Check the effective config:
       $BIN_DIR/${SERVICE_NAME} config print --config $CONFIG_DIR/${SERVICE_NAME}.json
EOF
  if [ -n "$active" ]; then
    echo "  3. The service is running the previous version: systemctl restart $SERVICE_NAME"
  else
    cat <<EOF
  3. Replacing the Python services (quantum-marketstate, quantum-risk-proposal,
     quantum-harvest-proposal)? Follow $PREFIX/deploy/MIGRATION.md: start this unit FIRST.
     A fresh host: systemctl enable --now $SERVICE_NAME
EOF
  fi
}

main() {
  parse_args "$@"
  if [ "$PRINT_UNIT" -eq 1 ]; then
    render_unit
    exit 0
  fi
  if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "must be run as root (or use --dry-run to see what it would do)"
  fi
  if [ "$DRY_RUN" -eq 0 ]; then
    [ -d /run/systemd/system ] || die "systemd is not running on this host; the service needs it"
  fi
  [ "$DRY_RUN" -eq 1 ] && note "dry run: nothing will be changed"
  check_node
  build
  install_code
  ensure_user
  install_config
  install_unit
  next_steps
}

main "$@"
