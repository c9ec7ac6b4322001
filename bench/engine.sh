# Sourced by bench/run, bench/run-sync and bench/run-storm: the storage engine under test.
# BENCH_DB=sqlite (default): the generated config as it is (SQLite, WAL, synchronous=FULL).
# BENCH_DB=postgres: a private PostgreSQL cluster (scripts/pg-cluster, Debian's defaults:
# fsync and synchronous_commit on) in the bench's data directory, so both engines write to
# the same disk; the server's config gets Synapse's psycopg2 block for it.
BENCH_DB=${BENCH_DB:-sqlite}

engine_setup() { # $1: data dir (homeserver.yaml already written)
    case "$BENCH_DB" in
    sqlite) ;;
    postgres)
        local pgport
        pgport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        chmod 755 "$1"
        scripts/pg-cluster start "$1/pg" "$pgport"
        psql -X -q -h "$1/pg" -p "$pgport" -U postgres -d postgres \
            -c "CREATE DATABASE hearth TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
        python3 - "$1/homeserver.yaml" "$1/pg" "$pgport" <<'PYEOF'
import sys, yaml
path, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path) as f:
    cfg = yaml.safe_load(f)
cfg["database"] = {"name": "psycopg2", "args": {"host": host, "port": port, "user": "postgres",
                                                "dbname": "hearth", "cp_min": 5, "cp_max": 20}}
with open(path, "w") as f:
    yaml.safe_dump(cfg, f, default_flow_style=False, sort_keys=False)
PYEOF
        ;;
    *)
        echo "BENCH_DB must be sqlite or postgres" >&2
        return 1
        ;;
    esac
    echo "ENGINE $BENCH_DB"
}

engine_teardown() { # $1: data dir
    if [ "$BENCH_DB" = postgres ] && [ -d "$1/pg" ]; then
        scripts/pg-cluster stop "$1/pg" || true
    fi
}
