# raptorflow-edge: one image for the edge and for the bundled example apps (docker-compose.yml picks the command).
# The sources are TypeScript run through tsx at runtime (tsx is a production dependency), so there is no build
# stage: what runs is what is in the repository.
FROM node:20-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, so editing the sources does not re-run the install.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --chown=node:node . .
# DATA_DIR (route state, flag backup, audit file) must be writable by the unprivileged user, and a named volume
# mounted here starts with this ownership.
RUN mkdir -p /app/.data && chown node:node /app/.data

USER node
ENV HOST=0.0.0.0 \
    PORT=8080 \
    ADMIN_PORT=9090 \
    DATA_DIR=/app/.data
EXPOSE 8080 9090

# The slim image has no curl; node's fetch does the probe. /readyz: route table loaded and listeners up.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.ADMIN_PORT || 9090) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"

CMD ["node", "bin/rf-edge", "start"]
