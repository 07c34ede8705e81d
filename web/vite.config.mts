import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The portal's build: web/ in, dist/web out (beside the daemon's dist/), assets hashed so the
 * daemon can cache them for a year. No inline script or style anywhere: the daemon's CSP admits
 * scripts and styles from its own origin and, for the styles Fluent UI inserts at run time, a nonce.
 */
const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  publicDir: false,
  build: {
    outDir: path.resolve(here, '../dist/web'),
    emptyOutDir: true,
    // The polyfill would be an inline script; every browser the portal supports has modulepreload.
    modulePreload: { polyfill: false },
    // No source maps served: they would publish the portal's source to anyone.
    sourcemap: false,
    reportCompressedSize: false,
    // The budget that matters is the landing page's gzipped JavaScript, which bench:portal measures; minified, React and Fluent UI pass 500 kB.
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      // Fluent UI marks its modules 'use client' for React Server Components; a client bundle has no use for it.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
  oxc: { jsx: { runtime: 'automatic' } },
});
