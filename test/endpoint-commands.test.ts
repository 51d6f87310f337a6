import { execFile } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeleteEndpointReply, MetricValuesReply, PublishPluginReply, ReferenceFromTrafficReply } from '../host/src/api/contract.js';
import { ModelwatchClient, type EndpointSummary } from '../host/src/client/client.js';
import type { MetricName } from '@modelwatch/protocol';
import { TEST_TOKEN } from './helpers/host.js';
import { CLI, hostProcess, testHostArgs, type HostProcess } from './helpers/processes.js';
import { tempDir, waitFor } from './helpers/tmp.js';

const run = promisify(execFile);
const ROW_COUNT = new URL('./fixtures/plugins/row-count', import.meta.url).pathname;

/**
 * Endpoints as MLRun users know them (issue #14), through the CLI against a real host: model name,
 * version and tags; update and delete (with and without --purge); list filtered by name glob, tag
 * selector and drift status; show; metric names and paged values; a reference from the
 * endpoint's own traffic.
 */
describe('endpoint and metrics commands', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let host: HostProcess;
  let client: ModelwatchClient;
  const cli = async (...args: string[]) => (await run(process.execPath, ['--no-node-snapshot', CLI, '--host', host.url, ...args], { timeout: 60_000 })).stdout;
  const json = async <T>(...args: string[]) => JSON.parse(await cli(...args, '--json')) as T;
  const failure = async (...args: string[]) => {
    try {
      await cli(...args);
    } catch (err) {
      return (err as { stderr: string }).stderr;
    }
    throw new Error(`modelwatch ${args.join(' ')} did not fail`);
  };
  const names = (eps: EndpointSummary[]) => eps.map((e) => e.name);
  /** `xs.length` one-row events 10 ms apart, all in one window that begins at least 1.5 s from now (none late). */
  const traffic = async (endpoint: string, xs: number[]) => {
    const at = Math.ceil((Date.now() + 1500) / 1000) * 1000 + 100;
    await client.sendEvents(
      endpoint,
      xs.map((x, i) => ({ when: at + i * 10, inputs: [[x]], outputs: [0] })),
    );
    return at;
  };
  /** Wait until row-count has stored the window starting at `windowStart` of the endpoint. */
  const analysed = (endpoint: string, windowStart: number) =>
    waitFor(
      `the window ${windowStart} of ${endpoint}`,
      async () => ((await client.results({ endpoint })).some((w) => w.windowStart === windowStart) ? true : undefined),
      30_000,
      100,
    );

  beforeAll(async () => {
    dir = await tempDir('mw-endpoint-commands-');
    host = await hostProcess(testHostArgs(join(dir.path, 'data'), '--retention', '1d'));
    await host.start();
    client = new ModelwatchClient({ url: host.url, token: TEST_TOKEN });
    await cli('plugin', 'publish', ROW_COUNT);
  });
  afterAll(async () => {
    await host?.stop();
    await dir?.[Symbol.asyncDispose]();
  });

  it('endpoint create --model-name --model-version --tag, update --tag --remove-tag, list --name --selector --status, show', async () => {
    await cli('endpoint', 'create', '--name', 'fraud-eu', '--model-name', 'fraud', '--model-version', '3', '--tag', 'team=fraud', '--tag', 'env=prod');
    await cli('endpoint', 'create', '--name', 'fraud-us', '--model-name', 'fraud', '--tag', 'team=fraud', '--tag', 'env=staging', '--tag', 'canary=yes');
    await cli('endpoint', 'create', '--name', 'churn-a', '--tag', 'team=growth');
    const eu = await client.getEndpoint('fraud-eu');
    expect(eu).toMatchObject({ modelName: 'fraud', modelVersion: '3', tags: { team: 'fraud', env: 'prod' } });
    expect(eu.createdAt).toBe(eu.updatedAt);

    expect(names(await json('endpoint', 'list', '--name', 'fraud-*'))).toEqual(['fraud-eu', 'fraud-us']);
    expect(names(await json('endpoint', 'list', '--selector', 'team=fraud,env in (prod)'))).toEqual(['fraud-eu']);
    expect(names(await json('endpoint', 'list', '--selector', 'env notin (prod),!canary'))).toEqual(['churn-a']);
    expect(names(await json('endpoint', 'list', '--name', 'fraud-*', '--selector', 'canary'))).toEqual(['fraud-us']);
    expect(await failure('endpoint', 'list', '--selector', 'env in (prod')).toContain("selector 'env in (prod': a set's '(' is never closed");
    expect(await failure('endpoint', 'list', '--status', 'drifting')).toContain(
      "status: expected one of irrelevant, no_detection, potential_detection, detected, none, got 'drifting'",
    );
    // no endpoint has results yet: each has no drift status
    expect(names(await json('endpoint', 'list', '--status', 'none'))).toEqual(['churn-a', 'fraud-eu', 'fraud-us']);
    expect(await json('endpoint', 'list', '--status', 'detected')).toEqual([]);
    const table = await cli('endpoint', 'list', '--name', 'fraud-eu');
    expect(table).toContain('fraud:3');
    expect(table).toContain('team=fraud,env=prod');

    const updated = await json<EndpointSummary>('endpoint', 'update', 'fraud-us', '--model-version', '4', '--tag', 'env=prod', '--remove-tag', 'canary');
    expect(updated).toMatchObject({ modelName: 'fraud', modelVersion: '4', tags: { team: 'fraud', env: 'prod' } });
    expect(updated.tags).not.toHaveProperty('canary');
    expect(updated.updatedAt).toBeGreaterThanOrEqual(updated.createdAt);
    expect(names(await json('endpoint', 'list', '--selector', 'env=prod'))).toEqual(['fraud-eu', 'fraud-us']);
    expect(await cli('endpoint', 'update', 'fraud-us', '--model-name', '')).toContain('model - version 4');
    expect(await failure('endpoint', 'update', 'fraud-us', '--tag', 'bad key=x')).toContain("'bad key' is not a valid tag key");
    expect(await failure('endpoint', 'update', 'missing-ep', '--tag', 'a=b')).toContain("no endpoint named 'missing-ep'");

    const shown = await cli('endpoint', 'show', 'fraud-eu');
    expect(shown).toContain('model:           fraud version 3');
    expect(shown).toContain('tags:            team=fraud,env=prod');
    expect(shown).toContain(`created:         ${new Date(eu.createdAt).toISOString()}`);
    expect(shown).toContain('latest results:  (none yet)');
  });

  it('metrics list and metrics values (paged with --limit and --after); show with the latest result per app; list --status', async () => {
    await client.createEndpoint({ name: 'metrics-ep', featureNames: ['x'], labelNames: ['y'] });
    const first = await traffic('metrics-ep', [1, 2, 3, 4, 5]);
    await analysed('metrics-ep', first - 100);
    const second = await traffic('metrics-ep', [1, 2, 3]);
    await analysed('metrics-ep', second - 100);

    const metrics = await json<MetricName[]>('metrics', 'list', 'metrics-ep');
    const rows = metrics.find((m) => m.fullName === 'row-count.result.rows');
    expect(rows).toMatchObject({ app: 'row-count', type: 'result', name: 'rows' });
    expect(rows!.windows).toBeGreaterThanOrEqual(2);
    expect(rows!.last).toBe(second - 100);
    expect(await cli('metrics', 'list', 'metrics-ep')).toContain('row-count.result.rows');

    // the two windows with traffic, one point a page
    const range = ['--names', 'row-count.result.rows', '--from', new Date(first - 100).toISOString(), '--to', String(second)];
    const page1 = await json<MetricValuesReply>('metrics', 'values', 'metrics-ep', ...range, '--limit', '1');
    expect(page1.points).toEqual([expect.objectContaining({ fullName: 'row-count.result.rows', windowStart: first - 100, value: 5 })]);
    expect(page1.next).toBeDefined();
    const page2 = await json<MetricValuesReply>('metrics', 'values', 'metrics-ep', ...range, '--limit', '1', '--after', page1.next!);
    expect(page2.points).toEqual([expect.objectContaining({ windowStart: second - 100, value: 3 })]);
    // the last page has no next
    expect(page2.next).toBeUndefined();
    const all = await json<MetricValuesReply>(
      'metrics',
      'values',
      'metrics-ep',
      '--names',
      'row-count.result.rows',
      '--from',
      String(first - 100),
      '--to',
      String(second),
    );
    expect(all.points.map((p) => p.value)).toEqual([5, 3]);
    expect(await cli('metrics', 'values', 'metrics-ep', ...range, '--limit', '1')).toContain('more: --after ');
    expect(await failure('metrics', 'values', 'metrics-ep', '--names', 'rows')).toContain("'rows' is not a full name");

    const shown = await cli('endpoint', 'show', 'metrics-ep');
    expect(shown).toMatch(/row-count\s*│\s*1\.0\.0\s*│\s*rows\s*│[^│]*│\s*no_detection\s*│\s*3\.0000/);
    expect(shown).toMatch(/requests:\s+8 \(errors 0\), 8 predictions/);
    expect(names(await json('endpoint', 'list', '--status', 'no_detection'))).toEqual(['metrics-ep']);
  });

  it("a plugin.json 'selector:' entry serves the endpoints whose tags match it, as they are tagged now", async () => {
    const app = join(dir.path, 'fraud-rows');
    await cp(ROW_COUNT, app, { recursive: true });
    const manifest = JSON.parse(await readFile(join(app, 'plugin.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(
      join(app, 'plugin.json'),
      JSON.stringify({ ...manifest, $schema: undefined, name: 'fraud-rows', endpoints: ['selector:team=fraud,env in (prod)'] }),
    );
    const published = await json<PublishPluginReply>('plugin', 'publish', app);
    // the dry run ran on the endpoints the selector picks, and only on them
    expect(published.dryRun.endpoints.map((r) => r.endpoint).sort()).toEqual(['fraud-eu', 'fraud-us']);
    await client.createEndpoint({ name: 'fraud-dev', featureNames: ['x'], labelNames: ['y'], tags: { team: 'fraud', env: 'dev' } });
    await client.updateEndpoint('fraud-us', { tags: { env: 'prod' } });
    const [prod, dev] = await Promise.all([traffic('fraud-us', [1, 2]), traffic('fraud-dev', [1, 2])]);
    await analysed('fraud-us', prod - 100);
    await analysed('fraud-dev', dev - 100);
    const apps = async (endpoint: string) => new Set((await client.results({ endpoint })).map((w) => w.app));
    await waitFor('fraud-rows on fraud-us', async () => ((await apps('fraud-us')).has('fraud-rows') ? true : undefined));
    expect(await apps('fraud-dev')).toEqual(new Set(['row-count']));
    await cli('plugin', 'remove', 'fraud-rows');
  });

  it("endpoint set-reference --from --to and --last take the endpoint's own rows; an empty range and one beyond the retention are refused", async () => {
    await client.createEndpoint({ name: 'ref-ep', featureNames: ['x'], labelNames: ['y'] });
    const at = await traffic('ref-ep', [7, 7, 9, 9]);
    await analysed('ref-ep', at - 100);

    const ref = await json<ReferenceFromTrafficReply>('endpoint', 'set-reference', 'ref-ep', '--from', String(at), '--to', new Date(at + 25).toISOString());
    expect(ref).toMatchObject({ name: 'ref-ep', referenceRows: 3, from: at, to: at + 25, hasReference: true });
    const ep = await client.getEndpoint('ref-ep');
    expect(ep.featureStats['x']).toMatchObject({ count: 3 });
    expect((ep.featureStats['x'] as { mean: number }).mean).toBeCloseTo(23 / 3);

    expect(await cli('endpoint', 'set-reference', 'ref-ep', '--last', '1h')).toContain('reference of ref-ep set from 4 rows of its traffic');
    expect(await failure('endpoint', 'set-reference', 'ref-ep', '--from', String(at - 3_600_000), '--to', String(at - 1_800_000))).toContain(
      "endpoint 'ref-ep' has no rows from",
    );
    expect(await failure('endpoint', 'set-reference', 'ref-ep', '--from', String(Date.now() - 2 * 86_400_000), '--to', String(at))).toContain(
      'is beyond the retention',
    );
    expect(await failure('endpoint', 'set-reference', 'ref-ep', '--from', String(at))).toContain('--from and --to go together');
  });

  it('endpoint delete keeps the stored results; --purge removes them after --yes (refused without it when there is no terminal)', async () => {
    // without --purge: the record goes, the results stay
    const kept = await json<DeleteEndpointReply>('endpoint', 'delete', 'ref-ep');
    expect(kept).toMatchObject({ endpoint: 'ref-ep', record: true, reference: true });
    expect(kept.purged).toBeUndefined();
    expect(kept.kept).toContain('results and serving metrics in the writer store');
    expect(names(await client.listEndpoints())).not.toContain('ref-ep');
    expect((await client.results({ endpoint: 'ref-ep' })).length).toBeGreaterThan(0);
    expect(await cli('endpoint', 'delete', 'fraud-eu')).toContain('deleted endpoint fraud-eu');
    expect(await failure('endpoint', 'delete', 'fraud-eu')).toContain("no endpoint named 'fraud-eu'");

    // --purge asks first: with no terminal to ask on and no --yes, nothing is deleted
    expect(await failure('endpoint', 'delete', 'metrics-ep', '--purge')).toContain('confirm on a terminal or pass --yes');
    expect(names(await client.listEndpoints())).toContain('metrics-ep');
    const purged = await json<DeleteEndpointReply>('endpoint', 'delete', 'metrics-ep', '--purge', '--yes');
    expect(purged.purged!.results.windows).toBeGreaterThanOrEqual(2);
    expect(purged.purged!.results.latest).toBeGreaterThanOrEqual(1);
    expect(purged.purged!.messages['MW_EVENTS']).toBe(2);
    expect(purged.purged!.messages['MW_ROWS']).toBeGreaterThanOrEqual(2);
    expect(purged.kept).toEqual(['points already written to the TSDB']);
    // nothing of it stored, and no record: an endpoint that does not exist
    await expect(client.results({ endpoint: 'metrics-ep' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await client.latest('metrics-ep')).toEqual([]);
    // a new endpoint of that name starts with nothing
    await client.createEndpoint({ name: 'metrics-ep', featureNames: ['x'], labelNames: ['y'] });
    expect(await json('metrics', 'list', 'metrics-ep')).toEqual([]);
  });
});
