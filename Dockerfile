# syntax=docker/dockerfile:1
# One image for every role (ROLE=gateway | relay | all). The app runs its TypeScript directly
# with tsx (`npm start` = `tsx src/main.ts`), so the server has no compile step, only
# dependencies; the browser chat it serves at / is built in a stage of its own.

# --- dependencies: better-sqlite3 is a native addon; when no prebuilt binary matches it
# compiles from source, which needs python3, make and a C++ compiler. They stay in this stage.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# tsx is a runtime dependency; dev tools (codegen, vitest, typescript) are left out.
RUN npm ci --omit=dev && npm cache clean --force

# --- the browser chat (served at /): built with the dev tools (Vite, TypeScript), which stay in
# this stage. No install scripts: the build needs no native addon.
FROM node:20-bookworm-slim AS web
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY client ./client
COPY web ./web
RUN npm run build:web

# --- runtime: the same base image (same glibc and Node ABI as the compiled addon).
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
COPY --from=web /app/web/dist ./web/dist
# DATA_DIR (./data) holds the embedded store and the dev token secret when those are used.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 4000
# node directly rather than npm: signals reach the app without a middle process.
CMD ["node", "--import", "tsx", "src/main.ts"]
