#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on $PGHOST:$PGPORT (default 127.0.0.1:5432) and lets
# user $PGUSER (default postgres) in without a password, as the end-to-end tests expect.
#
#   1. already up (a local cluster, or the CI service container): nothing to do;
#   2. installed but stopped: start the Debian cluster (pg_ctlcluster);
#   3. not installed: apt-get install postgresql, allow trust auth on loopback, start it.
#
# Idempotent and quiet when there is nothing to do. Never asks questions (CI has no stdin).
set -euo pipefail

PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-postgres}"
export PGHOST PGPORT PGUSER

log() { echo "ensure_postgres: $*" >&2; }

# Run as root directly, else through sudo -n (never prompts), else fail with a clear message.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        log "need root to run: $* (start PostgreSQL on $PGHOST:$PGPORT yourself)"
        return 1
    fi
}

port_open() {
    # bash's /dev/tcp: works without any PostgreSQL client installed.
    (exec 3<>"/dev/tcp/$PGHOST/$PGPORT") 2>/dev/null
}

ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -t 2
    else
        port_open
    fi
}

can_login() {
    if command -v psql >/dev/null 2>&1; then
        psql -X -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -w -tAc 'select 1' \
            >/dev/null 2>&1
    else
        return 0  # no client to check with; the tests will say so if login fails
    fi
}

wait_ready() {
    for _ in $(seq 1 60); do
        if ready; then return 0; fi
        sleep 0.5
    done
    return 1
}

clusters_version() {
    # The newest installed major version with a "main" cluster, e.g. 15.
    if [ -d /etc/postgresql ]; then
        find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -printf '%h\n' 2>/dev/null \
            | xargs -r -n1 basename | sort -n | tail -n1
    fi
}

start_cluster() {
    local ver
    ver="$(clusters_version)"
    if [ -z "$ver" ]; then
        return 1
    fi
    log "starting PostgreSQL $ver (cluster main)"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    wait_ready
}

allow_trust_on_loopback() {
    local ver hba
    ver="$(clusters_version)"
    hba="/etc/postgresql/$ver/main/pg_hba.conf"
    if [ -f "$hba" ] && ! grep -q '^# tap-ocpi: trust on loopback' "$hba"; then
        log "allowing passwordless login on loopback in $hba (a throwaway test server)"
        as_root sed -i '1i # tap-ocpi: trust on loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || true
    fi
}

install_postgres() {
    log "PostgreSQL is not installed: installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq postgresql postgresql-client >/dev/null
}

if ready && can_login; then
    exit 0
fi

if ! ready; then
    if [ -z "$(clusters_version)" ] && ! command -v pg_ctlcluster >/dev/null 2>&1; then
        install_postgres
        allow_trust_on_loopback
    fi
    if ! ready && ! start_cluster; then
        log "PostgreSQL did not come up on $PGHOST:$PGPORT"
        exit 1
    fi
fi

if ! can_login; then
    allow_trust_on_loopback
    sleep 1
    if ! can_login; then
        log "PostgreSQL is up on $PGHOST:$PGPORT but user $PGUSER cannot log in without a password"
        exit 1
    fi
fi
log "PostgreSQL is ready on $PGHOST:$PGPORT"
