# idsync container image.
#
#   docker build -t idsync .
#   docker run --rm --read-only --tmpfs /tmp --user 1000:1000 --cap-drop=ALL idsync demo
#
# Two stages on the same pinned Node 20 base. `build` installs every dependency, compiles the
# TypeScript, prunes the dev dependencies and lays out /out/app. The final stage gets only that:
# the compiled code, the production node_modules and the config/spec files the CLI reads, owned by
# root and read-only to the numeric user 1000 it runs as. It writes only under /tmp (its working
# directory), so it runs with a read-only root filesystem. tini is PID 1: it forwards SIGTERM to
# idsync and reaps children.

FROM node:20.20.2-bookworm-slim AS build
WORKDIR /src
# Only for builds behind a TLS-inspecting proxy: the path of an extra CA bundle mounted into the
# build (e.g. `--build-arg NODE_EXTRA_CA_CERTS=/run/host-ca.crt -v <bundle>:/run/host-ca.crt:ro`).
ARG NODE_EXTRA_CA_CERTS
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc before the sources are here. npm 10 can die without a
# non-zero exit ("Exit handler never called!"), so the step also checks that the install happened.
RUN npm ci --ignore-scripts --no-audit --no-fund \
  && test -x node_modules/.bin/tsc
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The prune keeps typescript as an optional peer of valibot (via @bull-board/api), which needs it only
# for its types: it goes too.
RUN npm run build \
  && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
  && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver \
  && test ! -e node_modules/vitest \
  && test ! -e node_modules/playwright-core \
  && mkdir -p /out/app/dist /out/app/bin \
  && cp -a package.json node_modules /out/app/ \
  && cp -a dist/src /out/app/dist/ \
  && chmod 0755 /out/app/dist/src/cli/main.js \
  && ln -s ../dist/src/cli/main.js /out/app/bin/idsync \
  && /out/app/bin/idsync --version
COPY config /out/app/config
COPY spec /out/app/spec

FROM node:20.20.2-bookworm-slim
# VERSION follows package.json; SOURCE_URL is the repository the image is built from (pass it).
ARG VERSION=0.1.0
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="idsync" \
      org.opencontainers.image.description="Identity sync daemon: keeps a Devin Enterprise account in step with LDAP, Active Directory or Entra ID" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
# tini from Debian. The official node image does not have it; a base that already has it needs no
# package index.
RUN if ! command -v tini >/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
  && tini --version
COPY --from=build /out/app /app
# Reports (./idsync-report, ./idsync-demo-report) and a relative state file land under /tmp.
# glibc malloc: a fixed trim threshold (setting it turns off the sliding mmap threshold, which
# otherwise climbs to 32 MB after a run has freed large buffers, so later ones come from the heap
# and its free pages are never handed back) and two arenas instead of one per thread. Measured on
# an idle `idsync run` after a 10,000-user sync (bench/memory, which runs the daemon with these):
# 183 MB RSS without them, 145 MB with the threshold, ~7 MB less again from the arenas.
ENV PATH=/app/bin:$PATH \
    NODE_ENV=production \
    HOME=/tmp \
    MALLOC_TRIM_THRESHOLD_=131072 \
    MALLOC_ARENA_MAX=2
WORKDIR /tmp
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["tini", "--", "idsync"]
CMD ["run"]
