import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { resultKindName, resultStatusName, type JsonValue, type ResultKind, type ResultStatus } from '@modelwatch/sdk';
import type { DryRunResult, PluginRecord, ReferenceTable, WindowProfile } from '@modelwatch/protocol';
import type { ShadowComparison } from '../../api/contract.js';
import { clientOf } from '../connect.js';
import { parseReference } from '../../domain/reference.js';
import { windowAt } from '../../domain/windows.js';
import { errorData, ModelwatchError } from '../../errors.js';
import { parseSettings } from '../../plugins/config.js';
import { activeVersionOf } from '../../domain/plugin-versions.js';
import { dryRunWarning } from '../../runner/dry-run-warning.js';
import { countOption, type GlobalArgs } from '../args.js';
import { fmtValue, iso, printJson, printTable } from '../format.js';
import { progressBar } from '../progress.js';
import { referenceFormat } from './endpoint.js';

// The bundler (esbuild) and the local runner (isolated-vm) load with the commands that build or
// run a plugin: every other command starts without them.
const bundler = () => import('../../plugins/bundle.js');
const builtins = () => import('../../plugins/builtin.js');
const localRunner = () => import('../../runner/local.js');

async function readTable(path: string): Promise<ReferenceTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ModelwatchError('INVALID_ARGUMENT', `cannot read ${path}: ${(err as Error).message}`);
  }
  return parseReference(text, referenceFormat(path));
}

async function readConfig(path: string): Promise<Record<string, JsonValue>> {
  let v: unknown;
  try {
    v = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ModelwatchError('INVALID_ARGUMENT', `--config ${path}: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ModelwatchError('INVALID_ARGUMENT', `--config ${path}: expected a JSON object`);
  return v as Record<string, JsonValue>;
}

function parseJsonObject(text: string, what: string): Record<string, JsonValue> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ModelwatchError('INVALID_ARGUMENT', `${what}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ModelwatchError('INVALID_ARGUMENT', `${what}: expected a JSON object`);
  return v as Record<string, JsonValue>;
}

function printPlugin(p: PluginRecord, json: boolean) {
  if (json) return printJson(p);
  const shadow = p.shadow ? `; shadow ${p.shadow.version}` : '';
  process.stdout.write(`${p.name}@${p.activeVersion}: ${p.status}${p.statusReason ? ` (${p.statusReason})` : ''}${shadow}\n`);
}

/** A shadow's comparison: one line of totals, then a row per result. */
function printComparison(c: ShadowComparison, json: boolean) {
  if (json) return printJson(c);
  const changes = (m: Record<string, number>, name: (s: string) => string) =>
    Object.entries(m)
      .map(([k, n]) => `${k.split('->').map(name).join('->')}: ${n}`)
      .join(', ') || '-';
  const outcomes = Object.keys(c.outcomeChanges).length ? `; outcome changes ${changes(c.outcomeChanges, (s) => s)}` : '';
  process.stdout.write(`${c.app}@${c.shadowVersion} (shadow) vs ${c.activeVersions.join(', ') || '-'} (active): ${c.windows} windows both ran${outcomes}\n`);
  printTable(
    ['result', 'windows', 'status changes', 'largest |difference|', 'in window'],
    c.results.map((r) => [
      r.name,
      r.windows,
      changes(r.statusChanges, (s) => resultStatusName[Number(s) as ResultStatus] ?? s),
      r.largest ? `${fmtValue(r.largest.difference)} (${fmtValue(r.largest.active)} -> ${fmtValue(r.largest.shadow)})` : '-',
      r.largest ? `${r.largest.endpoint} ${iso(r.largest.windowStart)}` : '-',
    ]),
  );
}

/** What one dry-run window did, on stdout (failures go to stderr, see printWarnings). */
function printDryRun(runs: ReadonlyArray<{ on: string; result: DryRunResult }>, note: string | undefined) {
  if (note) process.stdout.write(`${note}\n`);
  for (const { on, result: r } of runs) {
    const n = (k: number | undefined, what: string) => `${k ?? 0} ${what}${k === 1 ? '' : 's'}`;
    if (r.outcome === 'ok') {
      process.stdout.write(`dry run on ${on}: ok (${r.rows} rows: ${n(r.results, 'result')}, ${n(r.metrics, 'metric')}, ${r.durationMs.toFixed(1)} ms)\n`);
    } else if (r.outcome === 'skipped') process.stdout.write(`dry run on ${on}: ${r.reason ?? 'not run'}\n`);
  }
}

/** Dry-run failures on stderr: `WARNING: <endpoint, error, file and line>`, then the plugin's stack. */
function printWarnings(warnings: readonly string[], runs: readonly DryRunResult[]) {
  for (const w of warnings) process.stderr.write(`WARNING: ${w}\n`);
  for (const r of runs) if (r.outcome === 'error' && r.error?.stack) process.stderr.write(`${r.error.stack}\n`);
}

/** The last complete window of the host's base period. */
function lastWindow(periods: Parameters<typeof windowAt>[1]) {
  return windowAt(windowAt(Date.now(), periods).start - 1, periods);
}

/** `modelwatch plugin ...`: the lifecycle of monitoring apps. */
export const pluginCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'plugin <command>',
  describe: 'build, test, publish and manage monitoring apps',
  builder: (y) =>
    y
      .command<GlobalArgs & { dir: string; config?: string; strict: boolean; shadow: boolean }>(
        'publish <dir>',
        'bundle a plugin folder (plugin.json + TypeScript entry) with esbuild, check it, dry-run it on the endpoints it applies to, and publish it; it takes effect from the next window',
        (b) =>
          b
            .positional('dir', {
              type: 'string',
              demandOption: true,
              describe: 'plugin folder, or builtin:NAME for a built-in app (see plugin list --builtin)',
            })
            .option('config', { type: 'string', describe: "a JSON file replacing plugin.json's config (checked against configSchema)" })
            .option('strict', {
              type: 'boolean',
              default: false,
              describe: 'refuse the version when the dry run fails on an endpoint (without it, a failure is a warning)',
            })
            .example('$0 plugin publish builtin:histogram-data-drift', 'a built-in app, from the plugins this CLI ships with')
            .example('$0 plugin publish my-app', 'a plugin folder')
            .option('shadow', {
              type: 'boolean',
              default: false,
              describe: 'run it beside the active version on the same windows, its results stored apart (see plugin compare, plugin promote)',
            })
            .example('$0 plugin publish my-app --strict', 'refused if doTracking fails on a synthetic window of an endpoint it applies to')
            .example('$0 plugin publish my-app --shadow', 'a new version run beside the active one, from the next window'),
        async (args) => {
          const [{ BUILTIN_PREFIX, bundleBuiltin }, { bundlePlugin }] = await Promise.all([builtins(), bundler()]);
          const bundle = args.dir.startsWith(BUILTIN_PREFIX) ? await bundleBuiltin(args.dir.slice(BUILTIN_PREFIX.length)) : await bundlePlugin(args.dir);
          const config = args.config ? await readConfig(args.config) : undefined;
          const rec = await clientOf(args).publishBundle(bundle, {
            ...(config ? { config } : {}),
            strict: args.strict,
            shadow: args.shadow,
          });
          printWarnings(rec.dryRun.warnings, rec.dryRun.endpoints);
          if (args.json) return printJson(rec);
          const what = args.shadow
            ? `${rec.name}@${rec.shadow?.version ?? bundle.manifest.version} as the shadow of ${rec.name}@${rec.activeVersion}`
            : `${rec.name}@${rec.activeVersion}`;
          process.stdout.write(`published ${what} (${bundle.code.length} bytes, sha256 ${bundle.digest.slice(0, 12)})\n`);
          printDryRun(
            rec.dryRun.endpoints.map((r) => ({ on: `endpoint '${r.endpoint}'`, result: r })),
            rec.dryRun.note,
          );
        },
      )
      .command<GlobalArgs & { dir: string; sample?: string; reference?: string; config?: string; labels?: string; endpoint?: string[]; strict: boolean }>(
        'build <dir>',
        'bundle a plugin, validate plugin.json, and check in the sandbox that it loads and default-exports a MonitoringApplication with doTracking, without a host; --sample or --endpoint also dry-run doTracking',
        (b) =>
          b
            .positional('dir', { type: 'string', demandOption: true })
            .option('sample', { type: 'string', describe: 'dry-run on these rows, as plugin test does: CSV with a header, JSON Lines or JSON' })
            .option('reference', { type: 'string', describe: 'with --sample: training rows for reference statistics' })
            .option('labels', { type: 'string', describe: 'with --sample: output columns, comma-separated (the others are features)' })
            .option('config', { type: 'string', describe: "JSON replacing plugin.json's config in the dry run" })
            .option('endpoint', {
              type: 'string',
              array: true,
              describe: 'dry-run on a synthetic window of this endpoint, its columns and reference statistics asked from the host (--host); repeatable',
            })
            .option('strict', { type: 'boolean', default: false, describe: 'exit 1 when a dry run fails (without it, a failure is a warning)' })
            .example('$0 plugin build my-app', 'no host needed')
            .example('$0 plugin build my-app --sample window.csv --reference train.csv', 'and run doTracking on a local window')
            .example('$0 plugin build my-app --endpoint churn', "and run doTracking on a synthetic window of the host's endpoint churn"),
        async (args) => {
          const [{ bundlePlugin }, { checkLocal, dryRunLocal, runLocal }] = await Promise.all([bundler(), localRunner()]);
          const bundle = await bundlePlugin(args.dir);
          await checkLocal(bundle);
          const config = args.config ? parseJsonObject(args.config, '--config') : undefined;
          const runs: Array<{ on: string; result: DryRunResult }> = [];
          if (args.sample) {
            const [sample, reference] = await Promise.all([readTable(args.sample), args.reference ? readTable(args.reference) : undefined]);
            const started = performance.now();
            const result = await runLocal(bundle, {
              sample,
              ...(reference ? { reference } : {}),
              ...(args.labels ? { labelNames: args.labels.split(',').map((x) => x.trim()) } : {}),
              ...(config ? { config } : {}),
            }).then(
              (r): DryRunResult => ({
                endpoint: 'local',
                outcome: 'ok',
                rows: sample.rows,
                durationMs: r.durationMs,
                results: r.results.length,
                metrics: r.metrics.length,
              }),
              (err: unknown): DryRunResult => ({
                endpoint: 'local',
                outcome: 'error',
                rows: sample.rows,
                durationMs: performance.now() - started,
                error: errorData(err),
              }),
            );
            runs.push({ on: `sample ${args.sample}`, result });
          }
          if (args.endpoint?.length) {
            const client = clientOf(args);
            const w = lastWindow((await client.monitoring()).periods);
            for (const name of args.endpoint) {
              const endpoint = await client.getEndpoint(name);
              const result = await dryRunLocal(bundle, endpoint, { windowStart: w.start, windowEnd: w.end, ...(config ? { config } : {}) });
              runs.push({ on: `endpoint '${name}'`, result });
            }
          }
          const failed = runs.filter((r) => r.result.outcome === 'error');
          const warnings = failed.map((r) => dryRunWarning(r.result, r.on));
          printWarnings(
            warnings,
            failed.map((r) => r.result),
          );
          if (args.json) {
            printJson({
              name: bundle.manifest.name,
              version: bundle.manifest.version,
              bytes: bundle.code.length,
              digest: bundle.digest,
              inputs: bundle.inputs,
              dryRun: runs.map((r) => ({ on: r.on, ...r.result })),
            });
          } else {
            process.stdout.write(
              `built ${bundle.manifest.name}@${bundle.manifest.version}: ${bundle.code.length} bytes from ${bundle.inputs.length} files, sha256 ${bundle.digest.slice(0, 12)}; it loads in the sandbox and default-exports a MonitoringApplication with doTracking\n`,
            );
            printDryRun(runs, runs.length === 0 ? 'no dry run (doTracking not called): give --sample FILE or --endpoint NAME for one' : undefined);
          }
          if (args.strict && failed.length > 0) throw new ModelwatchError('PLUGIN_DRY_RUN_FAILED', `refused (--strict): ${warnings.join('; ')}`);
        },
      )
      .command<GlobalArgs & { dir: string; sample: string; reference?: string; config?: string; labels?: string }>(
        'test <dir>',
        'run doTracking on a local window (CSV or JSON Lines) in the same sandbox and print the results; exits 1 on an app error',
        (b) =>
          b
            .positional('dir', { type: 'string', demandOption: true })
            .option('sample', { type: 'string', demandOption: true, describe: "the window's rows: CSV with a header, JSON Lines or JSON" })
            .option('reference', { type: 'string', describe: 'training rows for reference statistics' })
            .option('config', { type: 'string', describe: "JSON replacing plugin.json's config" })
            .option('labels', { type: 'string', describe: 'output columns, comma-separated (the others are features)' })
            .example('$0 plugin test my-app --sample window.csv --reference train.csv --config \'{"tolerance": 2}\'', ''),
        async (args) => {
          const [{ bundlePlugin }, { runLocal }] = await Promise.all([bundler(), localRunner()]);
          const bundle = await bundlePlugin(args.dir);
          const [sample, reference] = await Promise.all([readTable(args.sample), args.reference ? readTable(args.reference) : undefined]);
          try {
            const r = await runLocal(bundle, {
              sample,
              ...(reference ? { reference } : {}),
              ...(args.labels ? { labelNames: args.labels.split(',').map((s) => s.trim()) } : {}),
              ...(args.config ? { config: parseJsonObject(args.config, '--config') } : {}),
              onLog: (l) => process.stderr.write(`[${l.level}] ${l.message}${l.fields ? ` ${l.fields}` : ''}\n`),
            });
            const artifacts = r.artifacts.map((a) => ({ name: a.name, contentType: a.contentType, size: a.body.byteLength }));
            if (args.json) return printJson({ ...r, artifacts });
            printTable(
              ['name', 'kind', 'status', 'value'],
              [
                ...r.results.map((x) => [x.name, resultKindName[x.kind as ResultKind], resultStatusName[x.status as ResultStatus], fmtValue(x.value)]),
                ...r.metrics.map((m) => [m.name, 'metric', '-', fmtValue(m.value)]),
              ],
            );
            for (const a of artifacts) process.stdout.write(`artifact ${a.name}: ${a.size} bytes, ${a.contentType}\n`);
            process.stdout.write(`${sample.rows} rows, ${r.durationMs.toFixed(1)} ms in the sandbox\n`);
          } catch (err) {
            if (err instanceof ModelwatchError && err.pluginStack) process.stderr.write(`${err.pluginStack}\n`);
            throw err;
          }
        },
      )
      .command<GlobalArgs & { dir: string; config?: string }>(
        'dev <dir>',
        'rebuild on every save and publish each build to the host as a development version (errors print with file and line); Ctrl-C stops',
        (b) => b.positional('dir', { type: 'string', demandOption: true }).option('config', { type: 'string' }),
        async (args) => {
          const client = clientOf(args);
          const config = args.config ? await readConfig(args.config) : undefined;
          let n = 0;
          const { watchPlugin } = await bundler();
          const stop = await watchPlugin(args.dir, async (e) => {
            if (!e.ok) {
              process.stderr.write(`${e.error.message}\n`);
              return;
            }
            const t0 = performance.now();
            try {
              const rec = await client.publishBundle(e.bundle, { ...(config ? { config } : {}), devSuffix: `${Date.now()}${n++}` });
              process.stdout.write(
                `${new Date().toISOString()} published ${rec.name}@${rec.activeVersion} in ${(performance.now() - t0).toFixed(0)} ms: it runs from the next window\n`,
              );
              printWarnings(rec.dryRun.warnings, rec.dryRun.endpoints);
            } catch (err) {
              process.stderr.write(`${(err as Error).message}\n`);
            }
          });
          process.stderr.write(`watching ${args.dir}; Ctrl-C stops\n`);
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
          await stop();
        },
      )
      .command<GlobalArgs & { builtin: boolean }>(
        'list',
        'list plugins: versions, the active one, status (active, disabled, quarantined) and last error; --builtin lists the built-in apps instead',
        (b) =>
          b
            .option('builtin', {
              type: 'boolean',
              default: false,
              describe: 'list the built-in apps this CLI ships with (publish one with plugin publish builtin:NAME); no host needed',
            })
            .example('$0 plugin list --builtin', ''),
        async (args) => {
          if (args.builtin) {
            const apps = await (await builtins()).listBuiltins();
            if (args.json) return printJson(apps);
            return printTable(
              ['name', 'version', 'description'],
              apps.map((a) => [a.name, a.version, a.description.length > 100 ? `${a.description.slice(0, 99)}…` : a.description]),
            );
          }
          const plugins = await clientOf(args).listPlugins();
          if (args.json) return printJson(plugins);
          printTable(
            ['name', 'active', 'versions', 'status', 'last error', 'description'],
            plugins.map((p) => [
              p.name,
              p.activeVersion + (p.shadow ? ` (shadow ${p.shadow.version})` : ''),
              p.versions.map((x) => x.version).join(', '),
              p.status + (p.statusReason && p.status !== 'active' ? `: ${p.statusReason}` : ''),
              p.lastError ? `${iso(p.lastError.at)} ${p.lastError.code}: ${p.lastError.message}`.slice(0, 160) : '',
              activeVersionOf(p)?.description ?? '',
            ]),
          );
        },
      )
      .command<GlobalArgs & { name: string }>(
        'get <name>',
        'show a plugin with all its versions, config and last error',
        (b) => b.positional('name', { type: 'string', demandOption: true }),
        async (args) => printJson(await clientOf(args).getPlugin(args.name)),
      )
      .command<GlobalArgs & { name: string; to?: string }>(
        'rollback <name>',
        'make an earlier version active (the one before the active one, or --to VERSION), from the next window',
        (b) => b.positional('name', { type: 'string', demandOption: true }).option('to', { type: 'string', describe: 'the version to activate' }),
        async (args) => printPlugin(await clientOf(args).rollbackPlugin(args.name, args.to), args.json),
      )
      .command<GlobalArgs & { name: string }>(
        'promote <name>',
        'make the shadow version (plugin publish --shadow) the active one, from the next window; the shadow stops',
        (b) => b.positional('name', { type: 'string', demandOption: true }),
        async (args) => printPlugin(await clientOf(args).promotePlugin(args.name), args.json),
      )
      .command<GlobalArgs & { name: string }>(
        'compare <name>',
        "how the shadow version's results differ from the active version's over the windows both ran: status changes (from->to), largest value difference",
        (b) => b.positional('name', { type: 'string', demandOption: true }),
        async (args) => printComparison(await clientOf(args).compareShadow(args.name), args.json),
      )
      .command<GlobalArgs & { name: string }>(
        'enable <name>',
        'analyse windows with this plugin again (also lifts a quarantine)',
        (b) => b.positional('name', { type: 'string', demandOption: true }),
        async (args) => printPlugin(await clientOf(args).enablePlugin(args.name), args.json),
      )
      .command<GlobalArgs & { name: string }>(
        'disable <name>',
        'stop analysing windows with this plugin (its results stay)',
        (b) => b.positional('name', { type: 'string', demandOption: true }),
        async (args) => printPlugin(await clientOf(args).disablePlugin(args.name), args.json),
      )
      .command<GlobalArgs & { name: string; set?: string[]; config?: string }>(
        'configure <name>',
        "change the active version's config, checked against its configSchema",
        (b) =>
          b
            .positional('name', { type: 'string', demandOption: true })
            .option('set', { type: 'string', array: true, describe: 'key=value (the value as JSON when it is JSON); a.b=1 sets a nested key' })
            .option('config', { type: 'string', describe: 'a JSON file replacing the whole config' })
            .example('$0 plugin configure histogram-data-drift --set potentialThreshold=0.4', ''),
        async (args) => {
          if (!args.set?.length && !args.config) throw new ModelwatchError('INVALID_ARGUMENT', 'give --set key=value or --config FILE');
          const client = clientOf(args);
          const rec = await client.configurePlugin(args.name, args.config ? { config: await readConfig(args.config) } : { set: parseSettings(args.set!) });
          if (args.json) return printJson(rec);
          process.stdout.write(`${rec.name}@${rec.activeVersion} config: ${JSON.stringify(activeVersionOf(rec)?.config)}\n`);
        },
      )
      .command<GlobalArgs & { name: string; follow: boolean; limit: number }>(
        'logs <name>',
        "print a plugin's log lines (ctx.logger), tagged with version, endpoint and window",
        (b) =>
          b
            .positional('name', { type: 'string', demandOption: true })
            .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing new lines' })
            .option('limit', countOption('limit', { default: 100, describe: 'newest lines first printed' })),
        async (args) => {
          const ac = new AbortController();
          process.once('SIGINT', () => ac.abort());
          for await (const l of clientOf(args).pluginLogs(args.name, { limit: args.limit, follow: args.follow, signal: ac.signal })) {
            if (args.json) process.stdout.write(`${JSON.stringify(l)}\n`);
            else
              process.stdout.write(
                `${iso(l.time)} ${l.level.toUpperCase().padEnd(5)} ${l.plugin}@${l.version} ${l.endpoint} ${iso(l.windowStart)} ${l.message}${l.fields ? ` ${l.fields}` : ''}\n`,
              );
          }
        },
      )
      .command<GlobalArgs & { name: string; endpoint: string; from: string; to: string; write: boolean; version?: string }>(
        'evaluate <name>',
        'run an app over past windows from the retained rows (backfill); prints the results, stores them only with --write, never twice',
        (b) =>
          b
            .positional('name', { type: 'string', demandOption: true })
            .option('endpoint', { type: 'string', demandOption: true })
            .option('from', { type: 'string', demandOption: true, describe: 'ISO time or ms' })
            .option('to', { type: 'string', demandOption: true, describe: 'ISO time or ms' })
            .option('write', { type: 'boolean', default: false, describe: 'store outcomes of windows not stored yet' })
            .option('version', { type: 'string', describe: 'the version to run (default: the active one)' }),
        async (args) => {
          const bar = progressBar(`evaluating ${args.name}`, 'windows', { json: args.json });
          const windows = await clientOf(args)
            .evaluatePlugin(
              args.name,
              { endpoint: args.endpoint, from: args.from, to: args.to, write: args.write, ...(args.version ? { version: args.version } : {}) },
              // progress lines only when a bar is drawn: the plain answer otherwise
              process.stderr.isTTY && !args.json ? { onProgress: (done, total) => bar.update(done, total) } : {},
            )
            .finally(() => bar.stop());
          if (args.json) return printJson(windows);
          printTable(
            ['window start', 'rows', 'outcome', 'results', 'stored'],
            windows.map(({ output: o, stored, profile }) => [
              iso(o.windowStart),
              o.rows,
              o.outcome === 'error'
                ? `error: ${o.error?.message ?? ''}`.slice(0, 100)
                : profile
                  ? `rows expired; profile kept: ${profileSummary(profile)}`
                  : o.outcome,
              o.results.map((r) => `${r.name}=${fmtValue(r.value)} (${resultStatusName[r.status as ResultStatus]})`).join(', '),
              stored,
            ]),
          );
        },
      )
      .command<GlobalArgs & { name: string }>(
        'remove <name>',
        'remove a plugin and all its versions (stored results stay)',
        (b) => b.positional('name', { type: 'string', demandOption: true }),
        async (args) => {
          const r = await clientOf(args).removePlugin(args.name);
          if (args.json) printJson(r);
          else process.stdout.write(`removed ${r.removed}\n`);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};

/** A window profile in one line: its rows, and each feature's count and mean (numeric) or top category. */
function profileSummary(p: WindowProfile): string {
  const parts = Object.entries(p.features).map(([name, s]) => {
    if (s.type === 'numeric') return `${name} n=${s.count} mean=${fmtValue(s.mean)}`;
    const top = Object.entries(s.frequencies).sort((a, b) => b[1] - a[1])[0];
    return `${name} n=${s.count}${top ? ` top=${top[0]} (${top[1]})` : ''}`;
  });
  return `${p.rows} rows; ${parts.join(', ')}`.slice(0, 200);
}
