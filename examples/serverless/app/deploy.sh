#!/usr/bin/env bash
# Deploys the document pipeline (README.md) into the current namespace:
#   deploy.sh [--workflow] [--trigger NODE]
# - the four Functions (runtime python3-ml), created or updated with mkctl;
# - --workflow: the Workflow docpipe (workflow.yaml; needs the workflow kinds);
# - --trigger NODE: the fileChange Trigger docpipe-drop on that node
#   (trigger.yaml with NODE written in).
# MKCTL (default: mkctl on PATH, else build/bin/mkctl) is the client; its
# --kubeconfig/-n come from $KUBECONFIG and the current context.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MKCTL=${MKCTL:-$(command -v mkctl || echo "$HERE/../../../build/bin/mkctl")}
workflow=0
trigger_node=""
while [ $# -gt 0 ]; do
  case $1 in
    --workflow) workflow=1 ;;
    --trigger) trigger_node=${2:?--trigger NODE}; shift ;;
    *) echo "usage: deploy.sh [--workflow] [--trigger NODE]" >&2; exit 2 ;;
  esac
  shift
done
# name file timeout(s): OCR gets longer (a page takes 1-3 s on one core).
for spec in "doc-preprocess preprocess.py 30" "doc-ocr ocr.py 60" \
            "doc-summarise summarise.py 30" "doc-digit digit.py 30"; do
  set -- $spec
  if "$MKCTL" fn get "$1" >/dev/null 2>&1; then
    "$MKCTL" fn update "$1" -f "$HERE/$2" --timeout "$3"
  else
    "$MKCTL" fn create "$1" -f "$HERE/$2" --runtime python3-ml --timeout "$3" --idle 300
  fi
done
if [ "$workflow" = 1 ]; then
  "$MKCTL" apply -f "$HERE/workflow.yaml"
fi
if [ -n "$trigger_node" ]; then
  sed "s/^    node: node1\$/    node: $trigger_node/" "$HERE/trigger.yaml" | "$MKCTL" apply -f -
fi
