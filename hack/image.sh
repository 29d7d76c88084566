#!/usr/bin/env bash
# Builds infraplane's container image without a container engine: a static
# linux binary on an empty base, as an OCI image layout in bin/image.
#   hack/image.sh                         # bin/image
#   hack/image.sh --tar bin/image.tar     # also a tarball for `docker load -i`
#   hack/image.sh --push ghcr.io/infraplane/infraplane:v0.1.0
# Every flag: go run ./hack/image -help. docs/observability.md has more.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./hack/image "$@"
