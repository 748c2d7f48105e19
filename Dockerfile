# syntax=docker/dockerfile:1
# One image for every role (ROLE=gateway | relay | all). The server (tsc) and the browser chat it
# serves at / (Vite) are built at image build time; the image runs `node dist/main.js` with
# production dependencies only.

# --- build: better-sqlite3 is a native addon; when no prebuilt binary matches it compiles from
# source, which needs python3, make and a C++ compiler. They stay in this stage, as do the dev
# dependencies (TypeScript, Vite) that the build needs.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY client ./client
COPY web ./web
RUN npm run build && npm prune --omit=dev && npm cache clean --force

# --- runtime: the same base image (same glibc and Node ABI as the compiled addon).
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
COPY package.json ./
# DATA_DIR (./data) holds the embedded store and the dev token secret when those are used.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 4000
# node directly rather than npm: signals reach the app without a middle process.
CMD ["node", "dist/main.js"]
