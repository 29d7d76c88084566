#!/usr/bin/env bash
# Regenerates deepcopy functions and CRDs from the API types.
# CI runs this and fails when the committed files differ.
set -euo pipefail
cd "$(dirname "$0")/.."
go tool controller-gen object paths=./api/...
go tool controller-gen crd paths=./api/... output:crd:dir=config/crd/bases
