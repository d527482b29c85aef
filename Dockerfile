# syntax=docker/dockerfile:1
#
# Cerberus IAM container image: a static binary on a distroless base that
# runs as an unprivileged user. Build arguments stamp the version:
#
#   docker build --build-arg VERSION=1.4.0 \
#     --build-arg COMMIT=$(git rev-parse --short HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t cerberus:1.4.0 .
#
# The same image serves (`cerberus serve`, the default) and migrates
# (`cerberus migrate up`, run once before a rollout).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Module downloads are cached in their own layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY cmd ./cmd
COPY internal ./internal

ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
# These flags must match deploy/static_test.go, which proves the result
# is a static binary.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/cerberus ./cmd/cerberus

# The SQLite fallback writes under ./data; give the runtime user a
# writable working directory even though production uses PostgreSQL.
RUN mkdir -p /out/app/data

FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="Cerberus IAM" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="Proprietary"

COPY --from=build /out/cerberus /usr/local/bin/cerberus
COPY --from=build --chown=65532:65532 /out/app /app
WORKDIR /app

# 65532 is the distroless "nonroot" user.
USER 65532:65532
ENV NODE_ENV=production PORT=4000
EXPOSE 4000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/cerberus", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/cerberus"]
CMD ["serve"]
