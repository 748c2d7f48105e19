/**
 * `npm run build:web`: the browser chat, built into web/dist, which the gateway serves at `/`.
 * Everything it needs is in the bundle (no CDN, no web fonts), so it works offline.
 */
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Hashed names under assets/ are what the gateway caches for a year.
    assetsDir: 'assets',
    sourcemap: true,
    target: 'es2022',
  },
  server: {
    // `npx vite web` for UI work: the API comes from `npm start` on :4000.
    proxy: {
      '/graphql': { target: 'http://localhost:4000', ws: true },
      '/dev/token': 'http://localhost:4000',
      '/chat-config.json': 'http://localhost:4000',
    },
  },
});
