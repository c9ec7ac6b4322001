"""The benchmark servers' config: the generated one with a given port and no rate limits,
plus the overrides a benchmark needs. Shared by the bench/run* scripts.

    python3 bench/benchconfig.py GENERATED.yaml HOMESERVER.yaml PORT [KEY=JSON ...]

KEY=JSON sets a top-level key, e.g. 'presence={"enabled": false}' or thread_pool_size=4.
"""

import json
import sys

import yaml

UNLIMITED = {"per_second": 0, "burst_count": 0}  # 0 and 0: no limit in Hearth


def bench_config(cfg, port, overrides=()):
    """cfg (the generated config, a dict) changed in place; durability stays as generated."""
    cfg["listeners"][0]["port"] = port
    cfg["rc_message"] = dict(UNLIMITED)
    cfg["rc_registration"] = dict(UNLIMITED)
    cfg["rc_login"] = {k: dict(UNLIMITED) for k in ("address", "account", "failed_attempts")}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            sys.exit("benchconfig: expected KEY=JSON, got %r" % item)
        cfg[key] = json.loads(value)
    return cfg


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    with open(argv[1]) as f:
        cfg = yaml.safe_load(f)
    bench_config(cfg, int(argv[3]), argv[4:])
    with open(argv[2], "w") as f:
        yaml.safe_dump(cfg, f, default_flow_style=False, sort_keys=False)


if __name__ == "__main__":
    main(sys.argv)
