#!/usr/bin/env bash
# Checks of what can be checked here of the packaging (no Docker daemon, no Kubernetes):
# - the systemd unit with `systemd-analyze verify` (its ExecStart pointed at the built binary);
# - the Kubernetes manifests and the compose file parse, and name the probes, ports and
#   variables the node really has;
# - the Dockerfile's Rust image is at least the workspace's rust-version.
# A missing tool is said and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p taskcore -p taskctl
bin="$PWD/target/debug/taskcore"

if command -v systemd-analyze >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  sed "s|/usr/local/bin/taskcore|$bin|" deploy/systemd/taskcore.service > "$tmp/taskcore.service"
  systemd-analyze verify "$tmp/taskcore.service"
  echo "packaging: systemd unit verified"
else
  echo "packaging: systemd unit SKIPPED (no systemd-analyze)"
fi

if python3 -c 'import yaml' >/dev/null 2>&1; then
  python3 - <<'PY'
import re, yaml
docs = list(yaml.safe_load_all(open("deploy/kubernetes/taskcore.yaml")))
kinds = [d["kind"] for d in docs]
assert kinds == ["Service", "Service", "StatefulSet", "Job"], kinds
sts = docs[2]["spec"]
c = sts["template"]["spec"]["containers"][0]
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert sts["serviceName"] == docs[0]["metadata"]["name"]
assert docs[0]["spec"]["clusterIP"] == "None"
compose = yaml.safe_load(open("deploy/compose/compose.yaml"))
assert sorted(compose["services"]) == ["init", "node1", "node2", "node3"]
# Every TASKCORE_ variable the files set is one the node reads (see env_config.rs).
known = set(re.findall(r'"([a-z_.]+)",\s*Kind::', open("crates/taskcore/src/env_config.rs").read()))
known = {"TASKCORE_" + k.replace(".", "__").upper() for k in known} | {"TASKCORE_TOKEN"}
text = open("deploy/kubernetes/taskcore.yaml").read() + open("deploy/compose/compose.yaml").read() \
    + open("Dockerfile").read()
used = set(re.findall(r"TASKCORE_[A-Z_]+[A-Z]", text))
unknown = used - known
assert not unknown, f"variables the node does not read: {unknown}"
print("packaging: manifests and compose file parse;", len(used), "variables, all known")
PY
else
  echo "packaging: manifests SKIPPED (no python3 yaml)"
fi

want=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
have=$(sed -n 's/^FROM rust:\([0-9.]*\)-.*/\1/p' Dockerfile)
[ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" = "$want" ] \
  || { echo "Dockerfile builds with Rust $have, older than rust-version $want"; exit 1; }
echo "packaging: the Dockerfile builds with Rust $have (rust-version $want)"
if docker info >/dev/null 2>&1; then
  docker build -q -t taskcore:test . >/dev/null && echo "packaging: image built"
else
  echo "packaging: image build SKIPPED (no Docker daemon here)"
fi
