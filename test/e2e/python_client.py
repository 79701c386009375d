#!/usr/bin/python3
"""The official Kubernetes Python client (Debian python3-kubernetes) against
minik8s: create and list pods, and watch them. Usage: python_client.py KUBECONFIG"""
import sys
import threading

from kubernetes import client, config, watch

failed = 0


def check(name, ok, detail=""):
    global failed
    print(("[PASS] " if ok else "[FAIL] ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failed += 1


def main():
    config.load_kube_config(config_file=sys.argv[1])
    v1 = client.CoreV1Api()
    apps = client.AppsV1Api()
    ns = "pyclient"
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    def pod(name):
        return client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels={"app": "py"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]))

    created = v1.create_namespaced_pod(ns, pod("first"))
    check("create pod", created.metadata.name == "first" and created.metadata.uid, created)
    check("defaults applied", created.spec.restart_policy == "Always", created.spec.restart_policy)

    listed = v1.list_namespaced_pod(ns, label_selector="app=py")
    check("list pods", [p.metadata.name for p in listed.items] == ["first"], listed.items)
    rv = listed.metadata.resource_version

    seen = []
    w = watch.Watch()

    def watcher():
        for ev in w.stream(v1.list_namespaced_pod, ns, resource_version=rv, timeout_seconds=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ("DELETED", "second") in seen:
                w.stop()

    t = threading.Thread(target=watcher)
    t.start()
    v1.create_namespaced_pod(ns, pod("second"))
    v1.delete_namespaced_pod("second", ns, grace_period_seconds=0)
    t.join(15)
    # The scheduler may write PodScheduled=False (no nodes) in between: MODIFIED.
    order = [t for t, _ in seen if t != "MODIFIED"]
    check("watch sees ADDED then DELETED", order[:2] == ["ADDED", "DELETED"], seen)

    try:
        v1.read_namespaced_pod("nope", ns)
        check("404 as ApiException", False, "no exception")
    except client.exceptions.ApiException as e:
        check("404 as ApiException", e.status == 404 and "NotFound" in e.body, e)

    dep = apps.create_namespaced_deployment(ns, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
    check("create deployment", dep.spec.replicas == 1, dep.spec)
    scale = apps.patch_namespaced_deployment_scale("d", ns, {"spec": {"replicas": 3}})
    check("scale deployment", scale.spec.replicas == 3, scale)

    v1.delete_namespace(ns)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
