# syntax=docker/dockerfile:1
# Worker image, one Dockerfile for the four workers: APP names the app under apps/, PORT its
# default health port (config `workers.<name>.port`). Build from the repository root, e.g.
#   docker build -f docker/worker.Dockerfile --build-arg APP=cache-warmer --build-arg PORT=8083 -t backbone/cache-warmer .
# docker/compose.yaml passes both for each worker. Why built JavaScript and not the TypeScript
# sources: docs/deployment.md.

ARG NODE_IMAGE=node:24-slim

# 1. build: the whole workspace with dev dependencies, then `nx run $APP:build`, which runs tsc
#    for this app and (dependsOn ^build) for every workspace lib it depends on, and nothing else.
FROM ${NODE_IMAGE} AS build
ARG APP
ARG PORT
WORKDIR /app
ENV NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE=true
COPY . .
# No defaults on purpose: a missing or misspelt build argument fails here, not in a running pod.
RUN set -eu; \
    test -n "${APP:-}" || { echo 'build argument APP (the worker's folder under apps/) is required' >&2; exit 1; }; \
    test -f "apps/$APP/src/main.ts" || { echo "APP=$APP: apps/$APP/src/main.ts does not exist" >&2; exit 1; }; \
    case "${PORT:-}" in ''|*[!0-9]*) echo "build argument PORT (the worker's health port) must be a number, got '${PORT:-}'" >&2; exit 1 ;; esac
RUN npm ci --no-audit --no-fund
RUN npx nx run "$APP:build" --outputStyle=static
# Runtime tree: for each project that was built (this app and its lib closure), its package.json,
# dist/ and runtime folders (e.g. libs/db/migrations); never src/, tests or tsconfig files.
# The workspace manifests go along so that the deps stage can run `npm ci` against the lockfile.
RUN set -eu; mkdir -p /runtime /manifests; cp package.json package-lock.json /manifests/; \
    for project in apps/* libs/*; do \
      mkdir -p "/manifests/$project"; cp "$project/package.json" "/manifests/$project/"; \
      [ -d "$project/dist" ] || continue; mkdir -p "/runtime/$project"; \
      for entry in "$project"/*; do \
        case "${entry##*/}" in src|node_modules|tsconfig*.json|vitest.config.ts|project.json) ;; \
          *) cp -R "$entry" "/runtime/$project/" ;; esac; \
      done; \
    done

# 2. deps: only this app's production dependencies (its workspace libs are links, their own
#    dependencies come along). No install scripts: nothing in the runtime closure needs a compiler.
FROM ${NODE_IMAGE} AS deps
ARG APP
WORKDIR /app
COPY --from=build /manifests/ ./
RUN npm ci --omit=dev --workspace "@backbone/$APP" --no-audit --no-fund --ignore-scripts \
 && npm cache clean --force

# 3. runtime: node:24-slim, non-root, production condition, no npm run wrapper.
FROM ${NODE_IMAGE} AS runtime
ARG APP
ARG PORT
# Not configuration (libs/config reads only BACKBONE_* and the conventional URLs): the CMD and
# the HEALTHCHECK run after the build, where only ENV survives, and they need the app and port.
ENV NODE_ENV=production WORKER_APP=${APP} HEALTHCHECK_PORT=${PORT}
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/package.json ./package.json
COPY --from=build --chown=root:root /runtime/ ./
# The image's own unprivileged user (uid 1000); the application files stay root-owned, read-only to it.
USER node
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.HEALTHCHECK_PORT + '/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The app's path comes from ENV, which only a shell expands; `exec` replaces that shell, so node
# is PID 1 and SIGTERM reaches the worker's supervisor directly. The semi-space size is the
# launcher's (./backbone serve): V8 would size the young generation from the node's memory.
CMD ["/bin/sh", "-c", "exec node --max-semi-space-size=16 --conditions=production --enable-source-maps --import @backbone/telemetry/register \"apps/$WORKER_APP/dist/main.js\""]
