#!/usr/bin/env bash
# Build the release binaries without goreleaser: cordon for linux and darwin,
# amd64 and arm64, static (CGO_ENABLED=0, -trimpath), each in a tar.gz with
# the LICENSE, the README, the example configuration and the systemd unit,
# into dist/, with dist/SHA256SUMS. .goreleaser.yaml describes the same
# release for goreleaser.
#
#   scripts/release.sh [VERSION]    VERSION defaults to git describe (or "devel")
#   TARGETS="linux/amd64" scripts/release.sh    only some targets
#
# cordon version prints what the build recorded: VERSION, the commit, and
# (from a clone, not a git worktree) the commit's time and a modified tree.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
targets=${TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}
# The toolchain records the commit, its time and a modified tree itself
# (-buildvcs) when .git is a directory; in a git worktree it is a file and
# nothing is recorded, so the commit is also given by name.
buildvcs=false
commit=""
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	buildvcs=true
	commit=$(git rev-parse HEAD)
fi

rm -rf dist
mkdir -p dist
for target in $targets; do
	os=${target%/*}
	arch=${target#*/}
	name="cordon_${version#v}_${os}_${arch}"
	echo "--- $name"
	mkdir -p "dist/$name"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=$buildvcs \
		-ldflags "-s -w -X main.version=$version -X main.commit=$commit" \
		-o "dist/$name/cordon" ./cmd/cordon
	cp LICENSE README.md docs/cordon.example.yaml deploy/systemd/cordon-worker.service "dist/$name/"
	tar -C dist -czf "dist/$name.tar.gz" "$name"
	rm -rf "dist/${name:?}"
done

(cd dist && sha256sum -- *.tar.gz > SHA256SUMS)
echo "--- dist/SHA256SUMS"
cat dist/SHA256SUMS
