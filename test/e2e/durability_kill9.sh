#!/usr/bin/env bash
# kill -9 the server in the middle of a stream of creates; after a restart every
# create that was answered 201 is present, and nothing half-written is visible.
source "$(dirname "$0")/lib.sh"
start_server
ns=default
acked="$E2E_DIR/acked.txt"; : >"$acked"
# A create loop over one keep-alive connection per request batch; record names answered 201.
(
  for i in $(seq 1 100000); do
    code=$(api_curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      --data "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-$i\"},\"data\":{\"payload\":\"$(printf '%0512d' "$i")\"}}" \
      "$SERVER_URL/api/v1/namespaces/$ns/configmaps") || break
    [ "$code" = 201 ] && echo "cm-$i" >>"$acked"
    [ "$code" = 000 ] && break
  done
) &
loader=$!
poll 20 bash -c "[ \$(wc -l <'$acked') -ge 200 ]"
kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
wait "$loader" 2>/dev/null
n_acked=$(wc -l <"$acked")
echo "acknowledged creates before kill -9: $n_acked"
rm -f "$E2E_DIR/data/kubeconfig"
start_server
missing=0
present=$(api_curl -fsS "$SERVER_URL/api/v1/namespaces/$ns/configmaps" | /usr/bin/python3 -c '
import json, sys
# Only the loop objects: the server publishes kube-root-ca.crt in every namespace.
items = [i for i in json.load(sys.stdin)["items"] if i["metadata"]["name"].startswith("cm-")]
bad = [i["metadata"]["name"] for i in items if len(i.get("data", {}).get("payload", "")) != 512]
print("\n".join(i["metadata"]["name"] for i in items))
sys.exit(1 if bad else 0)')
check "no half-written object after restart" test $? -eq 0
while read -r name; do grep -qx "$name" <<<"$present" || missing=$((missing + 1)); done <"$acked"
check "all $n_acked acknowledged creates survived kill -9 (missing: $missing)" test "$missing" -eq 0
check "more than 100 creates were acknowledged before the kill" test "$n_acked" -ge 100
e2e_finish
