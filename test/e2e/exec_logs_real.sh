#!/usr/bin/env bash
# Logs and exec on real containerd through `minik8s up`: a two-container pod
# writes logs; kubectl/mkctl logs (-c, --tail, --timestamps, -f, and -f
# delivering a line written after it attached), exec with
# output, exit code, stdin (-i) and the multi-container error. Everything
# lives under a temp dir; the trap runs `minik8s down` also on failure.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
start_up "e2e-exec-$$"
MKCTL="$BIN/minik8s ctl"
[ -x "$BIN/mkctl" ] && MKCTL="$BIN/mkctl"

cat >"$E2E_DIR/talk.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox:1.36, command: ["sh", "-c", "for i in 1 2 3; do echo line$i; done; echo oops >&2; sleep 1; echo last; exec sleep 3600"]}
  - {name: side, image: busybox:1.36, command: ["sh", "-c", "echo side-up; exec sleep 3600"]}
YAML
check "create a two-container pod" kubectl apply -f "$E2E_DIR/talk.yaml"
poll 60 sh -c "kubectl get pod talk | grep -q '2/2 *Running'" || { kubectl describe pod talk; tail -n 40 "$E2E_DIR/up.log"; }
# stdout and stderr are copied to the log by separate readers: their relative
# order is only fixed when time passes between them (the "sleep 1" above).
poll 10 sh -c "kubectl logs talk -c app | grep -q last"

expect_out "kubectl logs -c app" "^line1$" kubectl logs talk -c app
expect_out "stderr is in the log too" "^oops$" kubectl logs talk -c app
expect_out "kubectl logs --tail=1" "^last$" sh -c "kubectl logs talk -c app --tail=1 | wc -l | grep -q '^1$' && kubectl logs talk -c app --tail=1"
expect_out "kubectl logs --timestamps" "^[0-9-]+T[0-9:.]+Z line1$" kubectl logs talk -c app --timestamps
expect_fail "no container named on a two-container pod (server-side error)" "choose one of: \[app side\]" $MKCTL logs talk
expect_out "mkctl logs -c side" "^side-up$" $MKCTL logs talk -c side
expect_out "kubectl logs -f streams (timeout ends it)" "^side-up$" sh -c "timeout 2 kubectl logs -f talk -c side; true"
# -f follows: a line the container writes after the follower has attached
# must arrive on the same stream. The follower runs in the background (by
# PID); once the log so far has arrived, `exec` writes a fresh line to the
# container's stdout (PID 1's fd 1), and the follower's output is polled.
kubectl logs -f talk -c app >"$E2E_DIR/follow.out" 2>&1 &
FOLLOW_PID=$!
check "kubectl logs -f: the log so far arrives" poll 30 grep -qx last "$E2E_DIR/follow.out"
check "kubectl logs -f is still attached" kill -0 "$FOLLOW_PID"
MARK="followed-$$-$RANDOM"
check "a new line written to the app container's stdout (exec, /proc/1/fd/1)" \
  kubectl exec talk -c app -- sh -c "echo $MARK >/proc/1/fd/1"
check "kubectl logs -f delivers the line written after it attached" poll 30 grep -qx "$MARK" "$E2E_DIR/follow.out"
check "the same follower is still running (it followed, it was not restarted)" kill -0 "$FOLLOW_PID"
kill -TERM "$FOLLOW_PID" 2>/dev/null; wait "$FOLLOW_PID" 2>/dev/null
[ -n "$(grep -x "$MARK" "$E2E_DIR/follow.out")" ] || sed 's/^/    follow.out: /' "$E2E_DIR/follow.out" | tail -n 10

expect_out "kubectl exec echo" "^hi$" kubectl exec talk -c app -- echo hi
expect_out "kubectl exec exit code" "^3$" sh -c "kubectl exec talk -c app -- sh -c 'exit 3'; echo \$?"
expect_out "kubectl exec stderr" "^err$" sh -c "kubectl exec talk -c app -- sh -c 'echo err >&2' 2>&1"
expect_out "kubectl exec -i (stdin)" "^got:hello$" sh -c "echo hello | kubectl exec -i talk -c app -- sh -c 'read x; echo got:\$x'"
expect_out "containers share localhost/hostname" "^talk$" kubectl exec talk -c side -- hostname
expect_out "mkctl exec" "^from-mkctl$" $MKCTL exec talk -c app -- echo from-mkctl
expect_out "mkctl exec exit code" "^4$" sh -c "$MKCTL exec talk -c app -- sh -c 'exit 4'; echo \$?"
check "delete the pod" kubectl delete pod talk --wait=false
e2e_finish
