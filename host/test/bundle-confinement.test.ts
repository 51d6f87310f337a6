/*
 * bundlePlugin confined to the plugin folder (finding 11 of issue #10): a plugin that imports a
 * file outside its folder, by absolute path, by `../`, through a symlink, with a text loader or a
 * glob import, does not build, and the error names the import and the file that imports it.
 * What is inside (its own files, its node_modules, a symlink within the folder, the SDK) builds.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundlePlugin, watchPlugin, type WatchEvent } from '../src/plugins/bundle.js';
import { rejection } from './helpers.js';

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

/** `<tmp>/outer/secret.json`, `<tmp>/outer/secret.txt` and a plugin folder `<tmp>/outer/plugin` with `src/index.ts` = `code`. */
async function pluginWith(code: string, files: Record<string, string> = {}): Promise<{ outer: string; dir: string }> {
  const outer = await mkdtemp(join(tmpdir(), 'mw-confine-'));
  temps.push(outer);
  await writeFile(join(outer, 'secret.json'), JSON.stringify({ secret: 'outer-secret' }));
  await writeFile(join(outer, 'secret.txt'), 'outer-secret');
  const dir = join(outer, 'plugin');
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(
    join(dir, 'plugin.json'),
    JSON.stringify({ name: 'confined', version: '1.0.0', description: 'probe', entry: 'src/index.ts', limits: { memoryMb: 64, timeoutMs: 5000 } }),
  );
  await writeFile(join(dir, 'src', 'index.ts'), code);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return { outer, dir };
}

const app = (imports: string, use: string) => `import { MonitoringApplication } from '@modelwatch/sdk';
${imports}
export default class Probe extends MonitoringApplication {
  doTracking() { return [{ name: 'x', value: String(${use}).length, kind: 4, status: 0 }] as never; }
}
`;

describe('bundlePlugin: imports outside the plugin folder are refused', () => {
  it("an absolute path ('/etc/passwd' as text): PLUGIN_BUILD_FAILED naming the import and the importing file", async () => {
    const { dir } = await pluginWith(app(`import passwd from '/etc/passwd' with { type: 'text' };`, 'passwd'));
    const err = await rejection(bundlePlugin(dir));
    expect(err.code).toBe('PLUGIN_BUILD_FAILED');
    expect(err.message).toContain("src/index.ts:2:20: import '/etc/passwd' in src/index.ts (/etc/passwd) is outside the plugin folder");
    expect(err.message).toContain('a plugin may import only files in its folder, its node_modules and @modelwatch/sdk');
  });

  it("'../../secret.json' (JSON loader) and '../../secret.txt' (text loader) are refused", async () => {
    const { dir, outer } = await pluginWith(
      app(`import secret from '../../secret.json';\nimport text from '../../secret.txt';`, 'JSON.stringify(secret) + text'),
    );
    const err = await rejection(bundlePlugin(dir));
    expect(err.code).toBe('PLUGIN_BUILD_FAILED');
    expect(err.message).toContain(`import '../../secret.json' in src/index.ts (${join(outer, 'secret.json')}) is outside the plugin folder`);
    expect(err.message).toContain(`import '../../secret.txt' in src/index.ts (${join(outer, 'secret.txt')}) is outside the plugin folder`);
  });

  it('a symlink in the folder that leads outside is refused, naming where it leads', async () => {
    const { dir, outer } = await pluginWith(app(`import linked from './linked.json';`, 'JSON.stringify(linked)'));
    await symlink(join(outer, 'secret.json'), join(dir, 'src', 'linked.json'));
    const err = await rejection(bundlePlugin(dir));
    expect(err.message).toContain(`import './linked.json' in src/index.ts (${join(outer, 'secret.json')}) is outside the plugin folder`);
  });

  it('a node_modules package that is a symlink to a folder outside is refused', async () => {
    const { dir, outer } = await pluginWith(app(`import { secret } from 'linked-dep';`, 'secret'));
    await mkdir(join(outer, 'linked-dep'));
    await writeFile(join(outer, 'linked-dep', 'package.json'), JSON.stringify({ name: 'linked-dep', version: '1.0.0', main: 'index.js' }));
    await writeFile(join(outer, 'linked-dep', 'index.js'), "exports.secret = 'outer-secret';\n");
    await mkdir(join(dir, 'node_modules'));
    await symlink(join(outer, 'linked-dep'), join(dir, 'node_modules', 'linked-dep'));
    const err = await rejection(bundlePlugin(dir));
    expect(err.message).toContain(`import 'linked-dep' in src/index.ts (${join(outer, 'linked-dep', 'index.js')}) is outside the plugin folder`);
  });

  it('a glob import that reaches outside is refused (the file is checked when it is loaded)', async () => {
    const { dir, outer } = await pluginWith(app('', 'import(`../../${String(Date.now())}.json`)'));
    const err = await rejection(bundlePlugin(dir));
    expect(err.code).toBe('PLUGIN_BUILD_FAILED');
    expect(err.message).toContain(`leads outside the plugin folder (to ${join(outer, 'secret.json')})`);
  });

  it('an entry that is a symlink to a file outside is refused', async () => {
    const { dir, outer } = await pluginWith('');
    await writeFile(join(outer, 'entry.ts'), app('', '1'));
    await rm(join(dir, 'src', 'index.ts'));
    await symlink(join(outer, 'entry.ts'), join(dir, 'src', 'index.ts'));
    const err = await rejection(bundlePlugin(dir));
    expect(err.message).toContain(`the entry src/index.ts (${join(outer, 'entry.ts')}) is outside the plugin folder`);
  });

  it('the watch mode (--dev-plugins, plugin dev) refuses the same imports', async () => {
    const { dir } = await pluginWith(app(`import secret from '../../secret.json';`, 'JSON.stringify(secret)'));
    let built!: (e: WatchEvent) => void;
    const event = new Promise<WatchEvent>((resolve) => (built = resolve));
    const stop = await watchPlugin(dir, (e) => built(e));
    try {
      const e = await event;
      expect(e.ok).toBe(false);
      if (!e.ok) {
        expect(e.error.code).toBe('PLUGIN_BUILD_FAILED');
        expect(e.error.message).toContain("import '../../secret.json' in src/index.ts");
      }
    } finally {
      await stop();
    }
  });
});

describe('bundlePlugin: what is inside the plugin folder builds', () => {
  it('its own files (JSON and text too), a symlink that stays inside, its node_modules and the SDK', async () => {
    const { dir } = await pluginWith(
      app(
        `import table from './data/table.json';\nimport words from './data/words.txt';\nimport alias from './alias.json';\nimport { triple } from 'tiny-dep';`,
        'JSON.stringify(table) + words + JSON.stringify(alias) + triple(1)',
      ),
      {
        'src/data/table.json': '{"inside":1}',
        'src/data/words.txt': 'inside words',
        'node_modules/tiny-dep/package.json': JSON.stringify({ name: 'tiny-dep', version: '1.0.0', main: 'index.js' }),
        'node_modules/tiny-dep/index.js': 'exports.triple = function triple(x) { return 3 * x; };\n',
      },
    );
    await symlink(join(dir, 'src', 'data', 'table.json'), join(dir, 'src', 'alias.json'));
    const bundle = await bundlePlugin(dir);
    expect(bundle.code).toContain('inside words');
    expect(bundle.code).toContain('3 * x');
    expect(bundle.code).not.toContain('outer-secret');
  });
});
