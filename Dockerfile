# syntax=docker/dockerfile:1
# jitbroker: docker build -t jitbroker . ; see "Running in production" in README.md.
# The Node.js base: 24, an LTS line supported to 2028 and one of the three (20, 22, 24) the code is
# kept runnable on; pin it by digest in your registry for reproducible builds.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: dev dependencies, the TypeScript build, then only production dependencies kept ----
FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles natively when no prebuilt binary matches this Node.js.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` (a build) needs src/, copied below; the one
# dependency with an install script (better-sqlite3, native) is built explicitly.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
RUN npm run build && npm prune --omit=dev --ignore-scripts

# ---- runtime: Node.js, tini, production node_modules, dist/ and config/; no compiler, no npm cache ----
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --gid 10001 jitbroker \
  && useradd --uid 10001 --gid 10001 --home-dir /var/lib/jitbroker --no-create-home --shell /usr/sbin/nologin jitbroker \
  && install -d -o 10001 -g 10001 -m 0700 /var/lib/jitbroker
ENV NODE_ENV=production \
    JITBROKER_APP_DIR=/app \
    JITBROKER_DATA_DIR=/var/lib/jitbroker
WORKDIR /app
# Owned by root and read-only to the daemon's user: it cannot change its own code or defaults.
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY config ./config
COPY --chmod=0755 scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# `docker exec <container> jitbroker token --sub alice --roles requester` and the other CLI commands.
RUN chmod 0755 /app/dist/cli/main.js && ln -s /app/dist/cli/main.js /usr/local/bin/jitbroker
USER 10001:10001
# Database, vault master key, identity and checkpoint keys: keep this volume, and back it up.
VOLUME /var/lib/jitbroker
EXPOSE 7800
# Liveness via node itself (no curl in slim images): GET /healthz on loopback, over HTTPS when
# JITBROKER_HTTP_TLS_CERT is set (certificate not checked: nothing secret is sent). It reads the
# port and host from the environment (JITBROKER_PORT / JITBROKER_HTTP_PORT, default 7800), not
# from a --config file. test/e2e/docker-entrypoint.test.ts runs this exact command.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const e=process.env,h=e.JITBROKER_HOST||e.JITBROKER_HTTP_HOST||'';require(e.JITBROKER_HTTP_TLS_CERT?'https':'http').get({host:h===''||h==='0.0.0.0'||h==='::'?'127.0.0.1':h,port:Number(e.JITBROKER_PORT||e.JITBROKER_HTTP_PORT||7800),path:'/healthz',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]
# tini is PID 1: it forwards SIGTERM to the daemon (which drains for shutdownGraceSeconds, so give
# docker stop -t at least that plus a few seconds) and reaps zombies.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["serve"]
