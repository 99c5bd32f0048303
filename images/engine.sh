#!/usr/bin/env bash
# The container engine for building images and running the pipeline in them (make images-local,
# make test-containers, make run RUNNER=docker):
#   images/engine.sh check     exit 0 if a Docker engine answers, else say what to install or run
#   images/engine.sh start     start one if none answers (root: Debian's docker.io, installed if missing)
#   images/engine.sh stop      stop the engine only if `start` started it
# An engine that already runs (Docker Desktop, a system service) is used as it is and never stopped.
# Why `--iptables=false --bridge=none`: containers here use the host's network (kfp.local tasks
# reach the object store on loopback; builds reach the package registries), and in a container
# or a restricted VM the daemon may not manage iptables.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${ENGINE_STATE_DIR:-$root/.cache/engine}"
pidfile="$state/dockerd.pid"
log="$state/dockerd.log"

answers() { command -v docker >/dev/null 2>&1 && timeout 10 docker version >/dev/null 2>&1; }

install_engine() {
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "error: no Docker engine: install Docker (Debian/Ubuntu: apt-get install docker.io) and start it" >&2
        exit 1
    fi
    echo "==> installing Debian's docker.io" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
}

start() {
    if answers; then echo "a Docker engine answers: using it"; return; fi
    if [[ $(id -u) != 0 ]]; then
        echo "error: no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}: start Docker" \
             "(a system service or Docker Desktop), or run this script as root to start one" >&2
        exit 1
    fi
    command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 || install_engine
    mkdir -p "$state"
    echo "==> starting dockerd (log: $log)"
    nohup dockerd --iptables=false --bridge=none >"$log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 60); do
        if answers; then echo "engine started (pid $(cat "$pidfile"))"; return; fi
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
        sleep 1
    done
    tail -n 20 "$log" >&2
    echo "error: dockerd did not start (log: $log)" >&2
    rm -f "$pidfile"
    exit 1
}

stop() {
    [[ -f "$pidfile" ]] || { echo "engine not started by this script: left running"; return; }
    local pid
    pid="$(cat "$pidfile")"
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    echo "engine stopped"
}

case "${1:-}" in
    check)
        answers || { echo "error: no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}:" \
                          "run images/engine.sh start (or install Docker: apt-get install docker.io)" >&2; exit 1; }
        echo "a Docker engine answers"
        ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 check|start|stop" >&2; exit 2 ;;
esac
