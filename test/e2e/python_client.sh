#!/usr/bin/env bash
# Runs python_client.py (the official Python client) against a live server.
source "$(dirname "$0")/lib.sh"
start_server
/usr/bin/python3 "$(dirname "$0")/python_client.py" "$KUBECONFIG"
