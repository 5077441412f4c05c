# The worker and the Slack gateway: one static binary on distroless (no shell).
#   docker build -t cordon .
#   docker build --build-arg VERSION=v1.2.0 --build-arg COMMIT=$(git rev-parse HEAD) -t cordon:v1.2.0 .
#   docker run --rm cordon version
#   docker run -v /etc/cordon:/etc/cordon:ro cordon                       # a worker
#   docker run -v /etc/cordon:/etc/cordon:ro -p 8080:8080 cordon gateway --config /etc/cordon/cordon.yaml
# docs/operations.md has the rest (credentials, configuration, stopping gracefully).

FROM golang:1.26.8 AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git stays out of the build context (.dockerignore): name the release instead.
ARG VERSION=""
ARG COMMIT=""
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/cordon ./cmd/cordon

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cordon /cordon
USER nonroot
ENTRYPOINT ["/cordon"]
CMD ["worker", "--config", "/etc/cordon/cordon.yaml"]
