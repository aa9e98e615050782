# The Miroir pod service image.
#
# Stage 1 installs the workspace and bundles the pod service (apps/miroir) into one ES module with
# esbuild: the runtime stage needs no node_modules at all. Stage 2 is the official Node 20 slim image
# with that file, running as the unprivileged `node` user.
#
#   docker build -t miroir:dev .
#
# Node runs as PID 1 and handles SIGTERM and SIGINT itself (the service closes its HTTP servers,
# stops discovery, flushes OTLP and exits 0 within 5 s), so no init process is needed; it spawns no
# children that would need reaping.

FROM node:20-slim AS build
WORKDIR /src
RUN npm install --global pnpm@10.34.9
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json tsconfig.base.json ./
COPY packages/ packages/
COPY apps/ apps/
RUN pnpm install --frozen-lockfile \
 && pnpm --filter @miroir/miroir bundle

FROM node:20-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="miroir" \
      org.opencontainers.image.description="Miroir pod service: peer discovery through a headless Service's DNS, rendezvous-hash ownership, HTTP API and metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/node:20-slim"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /src/apps/miroir/dist/miroir.mjs /src/apps/miroir/dist/miroir.mjs.map ./
USER node
EXPOSE 7700 9090
ENTRYPOINT ["node", "--enable-source-maps", "/app/miroir.mjs"]
