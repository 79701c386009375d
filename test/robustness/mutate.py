"""Valid objects of every kind minik8s serves, and random mutations of them.

A mutation is one of: a value replaced by a hostile one (wrong type, huge or
negative number, path tricks, control characters, lone surrogates, deep
nesting, long strings), a key removed or added, a list emptied or blown up,
or, on the wire, the JSON text cut, corrupted or padded.
"""

import copy
import json
import random
import re

POD_SPEC = {
    "containers": [{
        "name": "c",
        "image": "busybox:latest",
        "command": ["sh", "-c", "sleep 3600"],
        "args": ["x"],
        "workingDir": "/tmp",
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
        "env": [{"name": "A", "value": "b"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "16Mi"},
                      "limits": {"cpu": "1", "memory": "64Mi"}},
        "volumeMounts": [{"name": "cm", "mountPath": "/etc/cm", "readOnly": True},
                         {"name": "data", "mountPath": "/data", "subPath": "sub"},
                         {"name": "host", "mountPath": "/host"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5},
        "livenessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 1},
        "lifecycle": {"preStop": {"exec": {"command": ["true"]}}},
    }],
    "volumes": [
        {"name": "cm", "configMap": {"name": "cfg", "defaultMode": 0o644,
                                      "items": [{"key": "a", "path": "dir/a", "mode": 0o600}]}},
        {"name": "sec", "secret": {"secretName": "s", "items": [{"key": "k", "path": "k"}]}},
        {"name": "data", "emptyDir": {"sizeLimit": "10Mi"}},
        {"name": "host", "hostPath": {"path": "/var/tmp", "type": "Directory"}},
        {"name": "dapi", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
    ],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 5,
    "nodeSelector": {"disk": "ssd"},
    "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
    "dnsPolicy": "ClusterFirst",
    "hostname": "h",
}

LABELS = {"app": "rb", "tier": "x"}


def samples(ns):
    """kind -> (collection path, valid object)."""
    core = "/api/v1"
    nsd = f"{core}/namespaces/{ns}"
    template = {"metadata": {"labels": LABELS}, "spec": POD_SPEC}
    return {
        "Namespace": (f"{core}/namespaces", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "rb-ns", "labels": {"a": "b"}}}),
        "Pod": (f"{nsd}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": LABELS, "annotations": {"a": "b"}},
            "spec": POD_SPEC}),
        "Node": (f"{core}/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "rb-node", "labels": {"kubernetes.io/hostname": "rb-node"}},
            "spec": {"podCIDR": "10.250.7.0/24", "podCIDRs": ["10.250.7.0/24"],
                     "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "2", "memory": "1Gi", "pods": "110"},
                       "addresses": [{"type": "InternalIP", "address": "10.96.200.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}),
        "Service": (f"{nsd}/services", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "svc", "labels": LABELS},
            "spec": {"type": "NodePort", "selector": LABELS,
                     "ports": [{"name": "http", "port": 80, "targetPort": "http",
                                "protocol": "TCP"}],
                     "sessionAffinity": "None"}}),
        "Endpoints": (f"{nsd}/endpoints", {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ep"},
            "subsets": [{"addresses": [{"ip": "10.1.2.3", "hostname": "a",
                                        "targetRef": {"kind": "Pod", "name": "p"}}],
                         "notReadyAddresses": [{"ip": "10.1.2.4"}],
                         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]}),
        "Event": (f"{nsd}/events", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
            "reason": "Started", "message": "m", "type": "Normal", "count": 1,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
            "source": {"component": "rb"}}),
        "ConfigMap": (f"{nsd}/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
            "data": {"a": "1", "b.txt": "two\nlines"}, "binaryData": {"bin": "AAEC"}}),
        "Secret": (f"{nsd}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "type": "Opaque", "data": {"k": "dmFsdWU="}, "stringData": {"t": "plain"}}),
        "Deployment": (f"/apis/apps/v1/namespaces/{ns}/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 0, "selector": {"matchLabels": LABELS}, "template": template,
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                     "revisionHistoryLimit": 2, "minReadySeconds": 0,
                     "progressDeadlineSeconds": 60}}),
        "ReplicaSet": (f"/apis/apps/v1/namespaces/{ns}/replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
            "spec": {"replicas": 0, "selector": {
                "matchExpressions": [{"key": "app", "operator": "In", "values": ["rb"]}]},
                "template": template}}),
        "HorizontalPodAutoscaler": (f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", {
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                     "minReplicas": 1, "maxReplicas": 3,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 10, "policies": [
                         {"type": "Pods", "value": 1, "periodSeconds": 10}]}}}}),
        "Lease": (f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 40,
                     "renewTime": "2026-01-01T00:00:00.000000Z"}}),
        "EndpointSlice": (f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "es", "labels": {"kubernetes.io/service-name": "svc"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": True},
                           "nodeName": "n1", "targetRef": {"kind": "Pod", "name": "p"}}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
        "DNS": (f"/apis/minik8s.io/v1/namespaces/{ns}/dnses", {
            "apiVersion": "minik8s.io/v1", "kind": "DNS", "metadata": {"name": "dns"},
            "spec": {"host": "rb.example.com", "paths": [
                {"path": "/a", "serviceName": "svc", "servicePort": 80}]}}),
        "Function": (f"/apis/serverless.minik8s.io/v1/namespaces/{ns}/functions", {
            "apiVersion": "serverless.minik8s.io/v1", "kind": "Function",
            "metadata": {"name": "fn", "labels": LABELS},
            "spec": {"runtime": "python3", "handler": "main.handler",
                     "code": {"inline": "def handler(event, context):\n    return event\n",
                              "filename": "main.py"},
                     "env": [{"name": "GREETING", "value": "hi"}],
                     "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                     "timeoutSeconds": 60,
                     "scale": {"minScale": 0, "maxScale": 3, "targetConcurrency": 1,
                               "scaleToZeroAfterSeconds": 30}}}),
        "Workflow": (f"/apis/serverless.minik8s.io/v1/namespaces/{ns}/workflows", WORKFLOW),
        # Runs name a Workflow: SETUP creates it first.
        "WorkflowRun": (f"/apis/serverless.minik8s.io/v1/namespaces/{ns}/workflowruns", {
            "apiVersion": "serverless.minik8s.io/v1", "kind": "WorkflowRun",
            "metadata": {"name": "run", "labels": LABELS},
            "spec": {"workflow": "wf-base", "input": {"value": 12, "kind": "text", "list": [1, "a", None]},
                     "cancel": False}}),
        "Trigger": (f"/apis/serverless.minik8s.io/v1/namespaces/{ns}/triggers", {
            "apiVersion": "serverless.minik8s.io/v1", "kind": "Trigger", "metadata": {"name": "tr"},
            "spec": {"target": {"function": "fn"}, "input": {"source": "schedule"}, "suspend": False,
                     "schedule": "*/5 1-3,9 * jan-jun mon-fri", "concurrencyPolicy": "Forbid"}}),
        "Trigger/fileChange": (f"/apis/serverless.minik8s.io/v1/namespaces/{ns}/triggers", {
            "apiVersion": "serverless.minik8s.io/v1", "kind": "Trigger", "metadata": {"name": "tr-file"},
            "spec": {"target": {"workflow": "wf"},
                     "fileChange": {"node": "node1", "path": "/var/lib/minik8s-drop",
                                    "events": ["created", "deleted"], "pattern": "*.png",
                                    "includeContent": True}}}),
        "Trigger/objectChange": (f"/apis/serverless.minik8s.io/v1/namespaces/{ns}/triggers", {
            "apiVersion": "serverless.minik8s.io/v1", "kind": "Trigger", "metadata": {"name": "tr-obj"},
            "spec": {"target": {"function": "fn"},
                     "objectChange": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": ns,
                                      "labelSelector": "app=rb,tier in (x,y)", "on": ["added"]}}}),
    }


# A Workflow using every state type, rule form and path field.
WORKFLOW = {
    "apiVersion": "serverless.minik8s.io/v1", "kind": "Workflow",
    "metadata": {"name": "wf", "labels": LABELS},
    "spec": {"startAt": "Measure", "maxSteps": 100, "timeoutSeconds": 60, "states": {
        "Measure": {"type": "Task", "function": "measure", "next": "Route",
                    "inputPath": "$.data", "resultPath": "$.measured", "outputPath": "$",
                    "timeoutSeconds": 10,
                    "retry": {"maxAttempts": 3, "backoffSeconds": 1, "backoffRate": 2,
                              "errors": ["States.Timeout"]},
                    "catch": [{"errors": ["States.TaskFailed"], "resultPath": "$.error",
                               "next": "Oops"}]},
        "Route": {"type": "Choice", "choices": [
            {"variable": "$.value", "op": ">", "value": 10, "next": "Fan"},
            {"and": [{"variable": "$.kind", "op": "==", "value": "text"},
                     {"not": {"variable": "$.lang", "op": "isPresent"}}],
             "next": "Each"},
            {"or": [{"variable": "$['odd key'][0]", "op": "matches", "value": "a*?"},
                    {"variable": "$.n", "op": "isNull", "value": False}],
             "next": "Pause"}],
            "default": "Small"},
        "Fan": {"type": "Parallel", "next": "Done", "branches": [
            {"startAt": "A", "states": {"A": {"type": "Task", "function": "a", "end": True}}},
            {"startAt": "B", "states": {"B": {"type": "Pass", "result": {"b": 1}, "end": True}}}]},
        "Each": {"type": "Map", "itemsPath": "$.items", "maxConcurrency": 2, "next": "Done",
                 "iterator": {"startAt": "W", "states": {
                     "W": {"type": "Task", "function": "work", "end": True}}}},
        "Pause": {"type": "Wait", "seconds": 1, "next": "Done"},
        "Small": {"type": "Pass", "result": {"kind": "small"}, "resultPath": None, "next": "Done"},
        "Oops": {"type": "Fail", "error": "Measure.Failed", "cause": "could not measure"},
        "Done": {"type": "Succeed", "comment": "the end"},
    }},
}

# Objects a kind's sample needs (created before it; 409 is fine).
SETUP = {
    "WorkflowRun": [(
        "/apis/serverless.minik8s.io/v1/namespaces/rb/workflows",
        dict(WORKFLOW, metadata={"name": "wf-base"}))],
}


def deep(n):
    """A stand-in for an n-deep array ([[[...1...]]]): Python's json cannot
    nest that far, so encode() splices the text in."""
    return f"@@DEEP-{n}@@"


_DEEP = re.compile(r'"@@DEEP-(\d+)@@"')


def encode(value):
    """json.dumps, with every deep() stand-in replaced by the nested array."""
    text = json.dumps(value)
    return _DEEP.sub(lambda m: "[" * int(m.group(1)) + "1" + "]" * int(m.group(1)), text).encode()


HOSTILE_STRINGS = [
    "", " ", "..", "../..", "../../../etc/passwd", "/etc/shadow", "a/../../b", "./x", "/",
    "\x00", "a\x00b", "\n", "\r\n\r\nHTTP/1.1 200 OK", "$(id)", "`id`", "'; rm -rf /", "\"",
    "{{", "%n%s%x", "\\", "\ud800", "\udfff", "\u202e", "\uffff", "ééé", "日本",
    "127.0.0.1", "169.254.169.254", "0.0.0.0", "::1", "224.0.0.1", "10.0.0.0/0",
    "localhost", "kubernetes.default.svc.cluster.local", "-1", "1e999", "NaN",
    "9999999999999999999999", "0x10", "1Ei", "1e308", "100000000Ti", "-5m",
    "A" * 64, "a" * 254, "a" * 70000, "-", ".", "*", "a b", "a;b", "a|b", "a\tb",
    "http://x", "2026-13-45T99:99:99Z", "true", "null",
]
SHORT_STRINGS = [s for s in HOSTILE_STRINGS if len(s) < 300]
HOSTILE_NUMBERS = [0, -1, 1, 2, 65535, 65536, 0o4755, 0o7777, -2**31, 2**31 - 1, 2**31,
                   2**53 + 1, 2**63 - 1, 2**63, 2**64, -2**63, 10**30, 1.5, -0.0, 1e308,
                   -1e308, 3.14e-300]


def hostile_value(rng):
    r = rng.random()
    if r < 0.40:
        return rng.choice(HOSTILE_STRINGS)
    if r < 0.70:
        return rng.choice(HOSTILE_NUMBERS)
    if r < 0.80:
        return rng.choice([None, True, False, {}, [], [None], {"": ""}, {"a": {"b": {}}}])
    if r < 0.88:
        return deep(rng.choice([5, 50, 500, 999, 1001, 5000, 20000]))
    if r < 0.94:
        return [rng.choice(SHORT_STRINGS) for _ in range(rng.choice([1, 100, 3000]))]
    return {rng.choice(HOSTILE_STRINGS): rng.choice(HOSTILE_STRINGS) for _ in range(5)}


def nodes(v, path=()):
    """Every (container, key) pair in a JSON value."""
    out = []
    if isinstance(v, dict):
        for k in list(v):
            out.append((v, k))
            out.extend(nodes(v[k]))
    elif isinstance(v, list):
        for i in range(len(v)):
            out.append((v, i))
            out.extend(nodes(v[i]))
    return out


def mutate(obj, rng, rounds=None):
    o = copy.deepcopy(obj)
    for _ in range(rounds or rng.choice([1, 1, 1, 2, 3])):
        spots = nodes(o)
        if not spots:
            break
        cont, key = rng.choice(spots)
        op = rng.random()
        if op < 0.55:
            cont[key] = hostile_value(rng)
        elif op < 0.70:
            del cont[key]
        elif op < 0.82 and isinstance(cont, dict):
            cont[rng.choice(HOSTILE_STRINGS + ["spec", "status", "metadata", "x"])] = hostile_value(rng)
        elif op < 0.90 and isinstance(cont[key], list):
            cont[key] = cont[key] * rng.choice([0, 2, 500])
        elif op < 0.95 and isinstance(cont[key], (dict, list)):
            cont[key] = [cont[key]] if rng.random() < 0.5 else {"x": cont[key]}
        else:
            cont[key] = json.loads(json.dumps(cont[key])) if isinstance(cont[key], str) else str(cont[key])
    return o


def wire_mutate(text, rng):
    """Damages the encoded body itself."""
    b = bytearray(text)
    r = rng.random()
    if r < 0.3 and b:
        return bytes(b[: rng.randrange(len(b))])
    if r < 0.6 and b:
        i = rng.randrange(len(b))
        b[i] = rng.randrange(256)
        return bytes(b)
    if r < 0.8:
        i = rng.randrange(len(b) + 1)
        junk = rng.choice([b"\x00", b"\xff\xfe", b"}]", b"[[[[", b"\"", b",", b"1e999999",
                           b"\\u0000", b"\xc3\x28", b" " * 1000])
        return bytes(b[:i]) + junk + bytes(b[i:])
    return text + rng.choice([b"{}", b"garbage", b"\n{\"a\":1}", b"\x00"])
