// `npm pack` / `npm publish` of @modelwatch/host: copy into the package what it needs from the
// repository around it (prepack), and remove the copies again (postpack), so a checkout never
// runs on stale ones. The package carries:
//   builtin/<app>/{plugin.json,src,README.md}  each built-in app of plugins/ (not its tests)
//   plugin.schema.json                         the JSON Schema of plugin.json
// host/src/plugins/assets.ts looks for them in the package first, in the repository second.
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const HOST = new URL('..', import.meta.url).pathname;
const REPO = join(HOST, '..');
const BUILTIN = join(HOST, 'builtin');
const SCHEMA = join(HOST, 'plugin.schema.json');

function clean() {
  rmSync(BUILTIN, { recursive: true, force: true });
  rmSync(SCHEMA, { force: true });
}

if (process.argv[2] === 'clean') clean();
else if (process.argv[2] === 'copy') {
  clean();
  const plugins = join(REPO, 'plugins');
  for (const e of readdirSync(plugins, { withFileTypes: true })) {
    const from = join(plugins, e.name);
    if (!e.isDirectory() || !existsSync(join(from, 'plugin.json'))) continue; // a helper folder (test-utils)
    for (const item of ['plugin.json', 'src', 'README.md']) {
      if (existsSync(join(from, item))) cpSync(join(from, item), join(BUILTIN, e.name, item), { recursive: true });
    }
  }
  cpSync(join(REPO, 'plugin.schema.json'), SCHEMA);
} else {
  console.error('usage: node scripts/pack-assets.mjs copy|clean');
  process.exit(2);
}
