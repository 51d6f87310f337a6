import type { CommandModule } from 'yargs';
import { bundlePlugin } from '../../plugins/bundle.js';
import { activeVersionOf } from '../../store/plugins.js';
import { ModelwatchClient } from '../client.js';
import { iso, printJson, printTable } from '../format.js';
import type { GlobalArgs } from '../main.js';

/** `modelwatch plugin publish|list|remove`. */
export const pluginCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'plugin <command>',
  describe: 'publish, list and remove monitoring apps',
  builder: (y) =>
    y
      .command<GlobalArgs & { dir: string }>(
        'publish <dir>',
        'bundle a plugin folder (plugin.json + TypeScript entry) with esbuild and publish it; it takes effect from the next window',
        (b) => b.positional('dir', { type: 'string', demandOption: true, describe: 'plugin folder' }).example('$0 plugin publish plugins/histogram-data-drift', ''),
        async (args) => {
          const bundle = await bundlePlugin(args.dir);
          const client = new ModelwatchClient({ url: args.host });
          const rec = await client.publishPlugin({ manifest: bundle.manifest, code: bundle.code, map: bundle.map });
          if (args.json) printJson(rec);
          else process.stdout.write(`published ${rec.name}@${rec.activeVersion} (${bundle.code.length} bytes, sha256 ${bundle.digest.slice(0, 12)})\n`);
        },
      )
      .command<GlobalArgs>(
        'list',
        'list published plugins',
        (b) => b,
        async (args) => {
          const plugins = await new ModelwatchClient({ url: args.host }).listPlugins();
          if (args.json) return printJson(plugins);
          printTable(
            ['name', 'active', 'versions', 'status', 'description', 'published'],
            plugins.map((p) => {
              const v = activeVersionOf(p);
              return [p.name, p.activeVersion, p.versions.map((x) => x.version).join(', '), p.enabled ? 'active' : 'disabled', v?.description ?? '', v ? iso(v.publishedAt) : ''];
            }),
          );
        },
      )
      .command<GlobalArgs & { name: string }>(
        'remove <name>',
        'remove a plugin and all its versions (stored results stay)',
        (b) => b.positional('name', { type: 'string', demandOption: true }),
        async (args) => {
          const r = await new ModelwatchClient({ url: args.host }).removePlugin(args.name);
          if (args.json) printJson(r);
          else process.stdout.write(`removed ${r.removed}\n`);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};
