// Builds the web dashboard (host/ui) into host/ui-dist: one JS bundle (Preact, uPlot) and one
// stylesheet, minified, no CDN. Run by `npm run build` and before `npm pack`.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const out = here('../ui-dist/');
await rm(out, { recursive: true, force: true });
await mkdir(`${out}assets`, { recursive: true });
await build({
  entryPoints: { app: here('../ui/src/main.tsx') },
  outdir: `${out}assets`,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(here('../ui/index.html'), `${out}index.html`);
