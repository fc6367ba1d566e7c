#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests/slurm and CI.
#
#   tools/slurm/local_cluster.sh install     apt-get install slurm-wlm + munge (once)
#   tools/slurm/local_cluster.sh start       install if needed, write the config, start
#                                            munged, slurmctld and slurmd, wait for the node
#   tools/slurm/local_cluster.sh wait-idle [SECONDS]
#                                            wait until the node is idle (no jobs)
#   tools/slurm/local_cluster.sh stop        cancel all jobs, stop the daemons
#   tools/slurm/local_cluster.sh status      scontrol ping, sinfo, squeue (exit 3 if down)
#
# Every subcommand is idempotent: `start` on a running cluster only checks it, `stop` on a
# stopped one does nothing. slurmctld and slurmd run on localhost with no database
# (no slurmdbd, so no sacct), no systemd and no cgroups; see tools/slurm/slurm.conf.template.
# The config goes to /etc/slurm/slurm.conf (where sbatch/squeue look without any
# environment); a slurm.conf this script did not write is never touched: `start` then
# only reports whether that cluster answers, `stop` does nothing.
#
# Environment (all optional):
#   CSRBENCH_SLURM_STATE      state, spool, pid and log files   (/var/lib/csrbench-slurm)
#   CSRBENCH_SLURM_PARTITION  name of the one (default) partition (local)
#   CSRBENCH_SLURM_WAIT       seconds to wait for daemons/node    (60)
# Needs root (or password-less sudo) for install/start/stop.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # slurmctld, slurmd, munged live here

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="$HERE/slurm.conf.template"
CONF=/etc/slurm/slurm.conf
STATE="${CSRBENCH_SLURM_STATE:-/var/lib/csrbench-slurm}"
PARTITION="${CSRBENCH_SLURM_PARTITION:-local}"
WAIT="${CSRBENCH_SLURM_WAIT:-60}"
MARKER="# Managed by csrbench tools/slurm/local_cluster.sh"
MUNGE_RUN=/run/munge
MUNGE_KEY=/etc/munge/munge.key

log() { printf 'local_cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        if have sudo && sudo -n true 2>/dev/null; then
            exec sudo -n -E bash "$0" "$@"
        fi
        die "'$1' needs root (or password-less sudo)"
    fi
}

# --- queries -------------------------------------------------------------------------

controller_up() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }

ours() { [ -f "$CONF" ] && head -n 1 "$CONF" | grep -qF "$MARKER"; }

pid_alive() {  # pid_alive PIDFILE
    local pid
    [ -s "$1" ] || return 1
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

munge_ok() { have munge && timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; }

node_name() { awk '/^NodeName=/ {sub(/^NodeName=/, "", $1); print $1; exit}' "$CONF"; }

node_state() { timeout 10 sinfo -h -N -n "$1" -o %T 2>/dev/null | head -n 1; }

# --- install -------------------------------------------------------------------------

cmd_install() {
    if have slurmctld && have slurmd && have sbatch && have munged; then
        log "slurm-wlm and munge already installed ($(slurmctld -V 2>/dev/null))"
        return 0
    fi
    need_root install
    have apt-get || die "slurm-wlm/munge are missing and apt-get is not available"
    log "installing slurm-wlm and munge with apt-get"
    # Keep the packages' maintainer scripts from starting daemons (there is no
    # systemd here, and `start` owns the daemons): the usual policy-rc.d guard.
    local guard=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        guard=1
    fi
    local rc=0
    export DEBIAN_FRONTEND=noninteractive
    apt_install() {
        apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
    }
    apt_install || { apt-get update -q >/dev/null && apt_install; } || rc=$?
    if [ "$guard" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$rc" = 0 ] || die "apt-get install slurm-wlm munge failed (rc=$rc)"
    log "installed $(slurmctld -V)"
}

# --- start ---------------------------------------------------------------------------

render_conf() {  # print the slurm.conf for this machine
    local nodeline node cpus mem defmem
    nodeline="$(slurmd -C | head -n 1)"
    [[ "$nodeline" == NodeName=* ]] || die "unexpected 'slurmd -C' output: $nodeline"
    node="$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$nodeline")"
    cpus="$(grep -oE 'CPUs=[0-9]+' <<<"$nodeline" | cut -d= -f2)"
    mem="$(grep -oE 'RealMemory=[0-9]+' <<<"$nodeline" | cut -d= -f2)"
    defmem=$((mem / cpus))
    sed -e "s|@HOST@|$node|g" -e "s|@NODE@|$node|g" -e "s|@NODELINE@|$nodeline|g" \
        -e "s|@STATE@|$STATE|g" -e "s|@PARTITION@|$PARTITION|g" \
        -e "s|@DEFMEM@|$defmem|g" "$TEMPLATE"
}

start_munge() {
    if munge_ok; then return 0; fi
    log "starting munged"
    if [ ! -s "$MUNGE_KEY" ]; then
        log "creating $MUNGE_KEY"
        mkdir -p "$(dirname "$MUNGE_KEY")"
        if have mungekey; then
            mungekey --create --keyfile="$MUNGE_KEY"
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
        fi
    fi
    chown munge:munge "$MUNGE_KEY" && chmod 0400 "$MUNGE_KEY"
    mkdir -p "$MUNGE_RUN" /var/log/munge /var/lib/munge
    chown munge:munge "$MUNGE_RUN" /var/log/munge /var/lib/munge
    chmod 0755 "$MUNGE_RUN"
    # A munged killed hard leaves its socket lock behind; --force starts anyway.
    runuser -u munge -- /usr/sbin/munged --force
    local i
    for ((i = 0; i < WAIT * 5; i++)); do
        if munge_ok; then
            touch "$STATE/run/munged.ours"
            return 0
        fi
        sleep 0.2
    done
    die "munged did not come up (see /var/log/munge/munged.log)"
}

cmd_start() {
    if [ -f "$CONF" ] && ! ours; then
        if have scontrol && controller_up; then
            log "$CONF was not written by this script; its controller answers, leaving it alone"
            return 0
        fi
        die "$CONF exists and was not written by this script; refusing to overwrite it"
    fi
    cmd_install
    if [ "$(id -u)" -ne 0 ] && controller_up; then
        # already running; nothing to (re)configure without root
        wait_node 'idle|mixed|allocated|completing' "$WAIT"
        log "cluster up: node $(node_name)"
        return 0
    fi
    need_root start
    mkdir -p "$STATE"/{ctld,d,run,log} /etc/slurm
    local new
    new="$(render_conf)"
    if [ -f "$CONF" ] && [ "$new" != "$(cat "$CONF")" ] && controller_up; then
        log "configuration changed; restarting the cluster"
        cmd_stop
    fi
    printf '%s\n' "$new" >"$CONF"
    chmod 0644 "$CONF"
    start_munge
    local fresh=0
    if ! pid_alive "$STATE/run/slurmctld.pid"; then
        log "starting slurmctld"
        # -c: start from a clean job state; a previous run's jobs are gone with its daemons.
        /usr/sbin/slurmctld -c
        fresh=1
    fi
    if ! pid_alive "$STATE/run/slurmd.pid"; then
        log "starting slurmd"
        /usr/sbin/slurmd
    fi
    local i
    for ((i = 0; i < WAIT * 5; i++)); do
        controller_up && break
        sleep 0.2
    done
    controller_up || { tail -n 20 "$STATE/log/slurmctld.log" >&2 || true; die "slurmctld does not answer"; }
    if [ "$fresh" = 1 ]; then
        wait_node idle "$WAIT"
    else
        wait_node 'idle|mixed|allocated|completing' "$WAIT"
    fi
    log "cluster up: node $(node_name), partition $PARTITION ($(sinfo -h -o '%c CPUs, %m MB' | head -n 1))"
}

# --- wait-idle -----------------------------------------------------------------------

wait_node() {  # wait_node REGEX SECONDS
    local want="$1" secs="$2" node st resumed=0 i
    node="$(node_name)"
    [ -n "$node" ] || die "no NodeName in $CONF"
    for ((i = 0; i < secs * 5; i++)); do
        st="$(node_state "$node")"
        if [[ "$st" =~ ^($want)$ ]]; then
            return 0
        fi
        if [[ "$st" =~ ^(down|drain|drained|draining|fail|failing) ]] && [ "$resumed" = 0 ]; then
            # e.g. after a restart with the node still marked down: bring it back.
            log "node $node is '$st'; resuming it"
            timeout 10 scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true
            resumed=1
        fi
        sleep 0.2
    done
    log "node $node is '${st:-unknown}' after ${secs}s (wanted: $want)"
    timeout 10 sinfo -R >&2 || true
    tail -n 20 "$STATE/log/slurmd.log" >&2 2>/dev/null || true
    return 1
}

cmd_wait_idle() {
    local secs="${1:-$WAIT}"
    [ -f "$CONF" ] || die "no $CONF; run '$0 start' first"
    controller_up || die "no SLURM controller answers 'scontrol ping'"
    wait_node idle "$secs" || die "node not idle"
    log "node $(node_name) is idle"
}

# --- stop ----------------------------------------------------------------------------

wait_gone() {  # wait_gone PIDFILE SECONDS; TERM then KILL the pid if it outlives SECONDS
    local f="$1" secs="$2" i pid
    for ((i = 0; i < secs * 5; i++)); do
        pid_alive "$f" || return 0
        sleep 0.2
    done
    pid="$(cat "$f")"
    log "pid $pid ($f) still running after ${secs}s; sending TERM"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 25; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
    if [ -f "$CONF" ] && ! ours; then
        log "$CONF was not written by this script; not stopping anything"
        return 0
    fi
    need_root stop
    if have scontrol && controller_up; then
        local jobs
        jobs="$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
        if [ -n "${jobs// /}" ]; then
            log "cancelling jobs: $jobs"
            # shellcheck disable=SC2086
            timeout 20 scancel $jobs || true
            local i
            for ((i = 0; i < 75; i++)); do
                [ -z "$(timeout 10 squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
                sleep 0.2
            done
        fi
        log "stopping slurmctld and slurmd"
        timeout 20 scontrol shutdown >/dev/null 2>&1 || true
    fi
    wait_gone "$STATE/run/slurmd.pid" 20
    wait_gone "$STATE/run/slurmctld.pid" 20
    if [ -f "$STATE/run/munged.ours" ]; then
        if pid_alive "$MUNGE_RUN/munged.pid"; then
            log "stopping munged"
            kill "$(cat "$MUNGE_RUN/munged.pid")" 2>/dev/null || true
            wait_gone "$MUNGE_RUN/munged.pid" 10
        fi
        rm -f "$STATE/run/munged.ours"
    fi
    log "stopped"
}

# --- status --------------------------------------------------------------------------

cmd_status() {
    if ! have scontrol; then
        log "SLURM is not installed (run '$0 install')"
        return 3
    fi
    if ! controller_up; then
        log "no SLURM controller answers 'scontrol ping'"
        return 3
    fi
    timeout 10 scontrol ping
    timeout 10 sinfo -N -o '%N %P %T %c %m'
    timeout 10 squeue -o '%i %j %T %M %R'
}

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
wait-idle) shift; cmd_wait_idle "$@" ;;
stop) cmd_stop ;;
status) cmd_status ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
