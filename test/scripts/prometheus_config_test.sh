#!/usr/bin/env bash
# deploy/prometheus: the scrape config and the alert rules parse (with
# promtool where the prometheus package is installed, else as YAML), scrape
# exactly the ports deploy/up gives the metrics (deploy/lib.sh), and the
# alerts use metric names the programs export.
set -euo pipefail
root=${SCALEFS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
dir=$root/deploy/prometheus
fail() { echo "FAIL: $*" >&2; exit 1; }

if command -v promtool >/dev/null; then
  promtool check config "$dir/prometheus.yml" >/dev/null || fail "promtool check config"
  promtool check rules "$dir/alerts.yml" >/dev/null || fail "promtool check rules"
fi

SCALEFS_PORT_BASE=7600
source "$root/deploy/lib.sh"
expected=("127.0.0.1:$(cluster_metrics_port 7600)" "127.0.0.1:$(cluster_mount_metrics_port)")
for k in 0 1; do for m in 0 1; do
  expected+=("127.0.0.1:$(cluster_metrics_port "$(cluster_member_port $k $m)")")
done; done

python3 - "$dir" "$root" "${expected[@]}" <<'PY' || fail "deploy/prometheus does not match the programs"
import glob, re, sys, yaml
d, root, expected = sys.argv[1], sys.argv[2], sorted(sys.argv[3:])
conf = yaml.safe_load(open(d + "/prometheus.yml"))
targets = sorted(t for job in conf["scrape_configs"] for sc in job["static_configs"]
                 for t in sc["targets"])
assert targets == expected, f"scrape targets {targets}, deploy/up uses {expected}"
assert conf["rule_files"] == ["alerts.yml"], conf["rule_files"]
rules = [r for g in yaml.safe_load(open(d + "/alerts.yml"))["groups"] for r in g["rules"]]
names = {r["alert"] for r in rules}
assert {"ScalefsPairDegraded", "ScalefsMemberDown"} <= names, names
code = "".join(open(f).read() for f in glob.glob(root + "/*/*.cc"))
for r in rules:
    assert r["expr"] and r["for"] and r["annotations"]["summary"], r
    for metric in re.findall(r"\bscalefs_[a-z_]+", r["expr"]):
        assert '"' + metric + '"' in code, f"{r['alert']}: no program exports {metric}"
degraded = next(r for r in rules if r["alert"] == "ScalefsPairDegraded")
assert degraded["for"] == "1m" and "scalefs_pair_healthy" in degraded["expr"], degraded
PY
echo PASS
