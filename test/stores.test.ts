import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ARTIFACT_STORE,
  Buckets as BucketNames,
  SETTINGS_KEY,
  Streams,
  type AppOutputMessage,
  type BatchRecord,
  type EndpointRecord,
  type ReferenceTable,
} from '@modelwatch/protocol';
import { endpointId } from '../host/src/domain/names.js';
import { windowAt } from '../host/src/domain/windows.js';
import { ensureTopology, openBuckets, type Buckets } from '../host/src/nats/topology.js';
import { BatchStore } from '../host/src/store/batches.js';
import { EndpointStore } from '../host/src/store/endpoints.js';
import { DEFAULT_LIMITS, PluginStore, type PublishedVersion } from '../host/src/store/plugins.js';
import { SettingsStore } from '../host/src/store/settings.js';
import { WatchedKv } from '../host/src/store/watched-kv.js';
import { rejection } from '../host/test/helpers.js';
import { startTestNats, startTestTopology, type TestTopology } from './helpers/nats.js';
import { testOutput } from './helpers/outputs.js';

/** A version record as the API makes it at publish. */
function version(v: string, digest = `digest-${v}`, config: PublishedVersion['config'] = { threshold: 1 }): PublishedVersion {
  return { version: v, description: `version ${v}`, digest, limits: DEFAULT_LIMITS, config, runOnEmptyWindows: false, referenceRows: false };
}

/** An output of `app@version` for one window of endpoint 'e'. */
function output(app: string, v: string, outcome: AppOutputMessage['outcome'], windowStart = 1_750_000_000_000): AppOutputMessage {
  return testOutput(
    { endpointId: endpointId('e'), endpointName: 'e', app, version: v, windowStart, windowEnd: windowStart + 1000 },
    { outcome, rows: 5, ...(outcome === 'error' ? { error: { code: 'APP_ERROR', message: `${app} failed` } } : {}), completedAt: windowStart + 1500 },
  );
}

/** The stores' named operations against a real nats-server: each one compare-and-set on its record. */
describe('stores', () => {
  let topology: TestTopology;
  let nc: NatsConnection;
  let buckets: Buckets;

  beforeAll(async () => {
    topology = await startTestTopology();
    nc = topology.nc;
    buckets = await openBuckets(nc);
  });
  afterAll(async () => {
    await topology?.[Symbol.asyncDispose]();
  });

  /** The KV revision of a key (changes with every write). */
  const revision = async (kv: Buckets['plugins'], key: string) => (await kv.get(key))?.revision;

  describe('PluginStore', () => {
    it('publish adds a version and makes it active; the same version again keeps its first publish time; other code under it is a CONFLICT', async () => {
      const plugins = new PluginStore(buckets.plugins);
      const first = await plugins.publish('pub', version('1.0.0'));
      expect(first).toMatchObject({ name: 'pub', activeVersion: '1.0.0', status: 'active' });
      expect(first.versions.map((v) => v.version)).toEqual(['1.0.0']);
      const publishedAt = first.versions[0]!.publishedAt;

      const second = await plugins.publish('pub', version('1.1.0'));
      expect(second.activeVersion).toBe('1.1.0');
      expect(second.createdAt).toBe(first.createdAt);
      expect(second.versions.map((v) => v.version)).toEqual(['1.0.0', '1.1.0']);

      const again = await plugins.publish('pub', version('1.0.0'));
      expect(again.activeVersion).toBe('1.0.0');
      expect(again.versions.map((v) => v.version)).toEqual(['1.1.0', '1.0.0']);
      expect(again.versions.find((v) => v.version === '1.0.0')!.publishedAt).toBe(publishedAt);

      const err = await rejection(plugins.publish('pub', version('1.0.0', 'other code')));
      expect(err.code).toBe('CONFLICT');
      expect((await plugins.require('pub')).versions).toEqual(again.versions);
    });

    it('disable, enable and rollback change the status and the active version; a missing plugin or version is NOT_FOUND', async () => {
      const plugins = new PluginStore(buckets.plugins);
      await plugins.publish('life', version('1.0.0'));
      expect((await rejection(plugins.rollback('life'))).code).toBe('CONFLICT');
      await plugins.publish('life', version('2.0.0'));

      expect(await plugins.disable('life')).toMatchObject({ status: 'disabled', statusReason: 'disabled by a user' });
      const enabled = await plugins.enable('life');
      expect(enabled.status).toBe('active');
      expect(enabled).not.toHaveProperty('statusReason');

      await plugins.disable('life');
      const back = await plugins.rollback('life');
      expect(back).toMatchObject({ activeVersion: '1.0.0', status: 'active' });
      expect(back).not.toHaveProperty('statusReason');
      expect((await plugins.rollback('life', '2.0.0')).activeVersion).toBe('2.0.0');
      const noVersion = await rejection(plugins.rollback('life', '9.9.9'));
      expect(noVersion.code).toBe('NOT_FOUND');
      expect(noVersion.message).toContain('has no version 9.9.9');

      for (const op of [plugins.enable('nope'), plugins.disable('nope'), plugins.rollback('nope'), plugins.require('nope'), plugins.remove('nope')]) {
        expect((await rejection(op)).code).toBe('NOT_FOUND');
      }
      expect(await plugins.get('nope')).toBeUndefined();
    });

    it('configure replaces the active version config only, and a refused config leaves the record as it was', async () => {
      const plugins = new PluginStore(buckets.plugins);
      await plugins.publish('conf', version('1.0.0', 'd1', { a: 1 }));
      await plugins.publish('conf', version('2.0.0', 'd2', { a: 2 }));
      const rec = await plugins.configure('conf', (v) => ({ ...v.config, b: true }));
      expect(rec.versions.map((v) => v.config)).toEqual([{ a: 1 }, { a: 2, b: true }]);

      const before = await revision(buckets.plugins, 'conf');
      const err = await rejection(
        plugins.configure('conf', () => {
          throw new Error('refused by the schema');
        }),
      );
      expect(err.message).toBe('refused by the schema');
      expect(await revision(buckets.plugins, 'conf')).toBe(before);
    });

    it('concurrent operations on one record are all applied: compare-and-set retries on a conflict', async () => {
      const plugins = new PluginStore(buckets.plugins);
      await plugins.publish('busy', version('1.0.0', 'd', {}));
      // two stores, as if in two processes, each changing one key of the config at once
      const other = new PluginStore(buckets.plugins);
      await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? plugins : other).configure('busy', (v) => ({ ...v.config, [`k${i}`]: i }))));
      const config = (await plugins.require('busy')).versions[0]!.config;
      expect(config).toEqual(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${i}`, i])));
    });

    it('recordOutcome keeps a failure as the last error and writes nothing for other outcomes', async () => {
      const plugins = new PluginStore(buckets.plugins);
      await plugins.publish('outcomes', version('1.0.0'));
      const before = await revision(buckets.plugins, 'outcomes');
      expect((await plugins.recordOutcome(output('outcomes', '1.0.0', 'ok')))?.lastError).toBeUndefined();
      await plugins.recordOutcome(output('outcomes', '1.0.0', 'empty'));
      expect(await revision(buckets.plugins, 'outcomes')).toBe(before);

      const failed = output('outcomes', '1.0.0', 'error');
      const rec = await plugins.recordOutcome(failed);
      expect(rec?.lastError).toMatchObject({ code: 'APP_ERROR', message: 'outcomes failed', version: '1.0.0', endpoint: 'e', windowStart: failed.windowStart });
      expect(rec?.status).toBe('active');
      // kept through a publish
      expect((await plugins.publish('outcomes', version('1.0.1'))).lastError?.message).toBe('outcomes failed');
      // a plugin that is gone: nothing to record
      expect(await plugins.recordOutcome(output('gone', '1.0.0', 'error'))).toBeUndefined();
      expect(await plugins.get('gone')).toBeUndefined();
    });

    it('quarantine quarantines the active version of an active plugin only, with the streak and the last error as the reason', async () => {
      const plugins = new PluginStore(buckets.plugins);
      await plugins.publish('q', version('1.0.0'));
      await plugins.publish('q', version('2.0.0'));

      // a version that is not the active one any more: its failure is recorded, nothing quarantined
      const old = await plugins.quarantine(output('q', '1.0.0', 'error'), 5);
      expect(old.quarantined).toBe(false);
      expect(old.record).toMatchObject({ status: 'active', lastError: { version: '1.0.0' } });

      // a user's disable came first
      await plugins.disable('q');
      expect((await plugins.quarantine(output('q', '2.0.0', 'error'), 5)).quarantined).toBe(false);
      expect((await plugins.require('q')).status).toBe('disabled');

      await plugins.enable('q');
      const step = await plugins.quarantine(output('q', '2.0.0', 'error'), 5);
      expect(step.quarantined).toBe(true);
      expect(step.record).toMatchObject({
        status: 'quarantined',
        statusReason: 'failed 5 windows in a row on endpoint e; last: APP_ERROR: q failed',
        lastError: { version: '2.0.0' },
      });
      // already quarantined: not again
      expect((await plugins.quarantine(output('q', '2.0.0', 'error'), 6)).quarantined).toBe(false);
      expect((await plugins.require('q')).statusReason).toBe(step.record!.statusReason);
    });

    it('publishShadow, promote and dropShadow: a shadow beside the active version, made active or dropped; its failures are its own', async () => {
      const plugins = new PluginStore(buckets.plugins);
      expect((await rejection(plugins.publishShadow('sh', version('2.0.0'), 1))).code).toBe('NOT_FOUND');
      await plugins.publish('sh', version('1.0.0'));
      expect((await rejection(plugins.publishShadow('sh', version('1.0.0'), 1))).code).toBe('CONFLICT');
      expect((await rejection(plugins.promote('sh'))).code).toBe('CONFLICT');
      expect((await rejection(plugins.dropShadow('sh'))).code).toBe('CONFLICT');

      const shadowed = await plugins.publishShadow('sh', version('2.0.0'), 1234);
      expect(shadowed).toMatchObject({ activeVersion: '1.0.0', status: 'active', shadow: { version: '2.0.0', since: 1234 } });
      expect(shadowed.versions.map((v) => v.version)).toEqual(['1.0.0', '2.0.0']);
      expect((await rejection(plugins.publishShadow('sh', version('2.0.0', 'other code'), 1))).code).toBe('CONFLICT');

      // a shadow's failure is the shadow's last error, not the plugin's; the active version's is the plugin's
      const failed = await plugins.recordOutcome({ ...output('sh', '2.0.0', 'error'), shadow: true });
      expect(failed).toMatchObject({ shadow: { version: '2.0.0', lastError: { version: '2.0.0', code: 'APP_ERROR' } } });
      expect(failed).not.toHaveProperty('lastError');
      // at the streak limit the shadow is dropped; the active version stays active
      const dropped = await plugins.quarantine({ ...output('sh', '2.0.0', 'error'), shadow: true }, 3);
      expect(dropped.quarantined).toBe(true);
      expect(dropped.record).toMatchObject({ activeVersion: '1.0.0', status: 'active', droppedShadow: { version: '2.0.0' } });
      expect(dropped.record!.droppedShadow!.reason).toBe('failed 3 windows in a row on endpoint e; last: APP_ERROR: sh failed');
      expect(dropped.record).not.toHaveProperty('shadow');
      // a shadow output of a version that is no longer the shadow changes nothing
      expect((await plugins.quarantine({ ...output('sh', '2.0.0', 'error'), shadow: true }, 4)).quarantined).toBe(false);

      // promote: the shadow becomes active (a quarantine lifted), and there is no shadow any more
      await plugins.publishShadow('sh', version('2.0.0'), 5678);
      await plugins.disable('sh');
      const promoted = await plugins.promote('sh');
      expect(promoted).toMatchObject({ activeVersion: '2.0.0', status: 'active' });
      expect(promoted).not.toHaveProperty('shadow');
      expect(promoted).not.toHaveProperty('statusReason');

      // dropShadow by hand; only the named version when one is named
      await plugins.publishShadow('sh', version('3.0.0'), 1);
      expect((await rejection(plugins.dropShadow('sh', '9.9.9'))).code).toBe('CONFLICT');
      expect(await plugins.dropShadow('sh')).not.toHaveProperty('shadow');
      // publishing or rolling back to the shadow's version makes it active, no longer a shadow
      await plugins.publishShadow('sh', version('3.0.0'), 1);
      expect(await plugins.publish('sh', version('3.0.0'))).not.toHaveProperty('shadow');
      await plugins.publishShadow('sh', version('4.0.0'), 1);
      expect((await plugins.publish('sh', version('5.0.0'))).shadow?.version).toBe('4.0.0');
      const back = await plugins.rollback('sh', '4.0.0');
      expect(back.activeVersion).toBe('4.0.0');
      expect(back).not.toHaveProperty('shadow');
    });

    it('remove deletes the record, and list gives the others by name', async () => {
      const plugins = new PluginStore(buckets.plugins);
      await plugins.publish('zz-removed', version('1.0.0'));
      expect((await plugins.remove('zz-removed')).name).toBe('zz-removed');
      expect(await plugins.get('zz-removed')).toBeUndefined();
      const names = (await plugins.list()).map((p) => p.name);
      expect(names).not.toContain('zz-removed');
      expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
      expect(names).toEqual(expect.arrayContaining(['busy', 'conf', 'life', 'pub', 'q']));
    });

    it('list gives each plugin once while a record is written under it (kv.keys() delivers a key written meanwhile again)', async () => {
      const plugins = new PluginStore(buckets.plugins);
      for (let i = 0; i < 50; i++) await plugins.publish(`churn-${i}`, version('1.0.0'));
      const rec = (await buckets.plugins.get('churn-0'))!.value;
      // each listing runs beside 20 writes of one record (a bounded number: a listing ends once
      // nothing is pending, which endless writes would postpone for good)
      const write20 = async () => {
        for (let n = 0; n < 20; n++) await buckets.plugins.put('churn-0', rec);
      };
      const [listed] = await Promise.all([plugins.list(), write20()]);
      const names = listed.map((p) => p.name);
      expect(new Set(names).size).toBe(names.length);
      expect(names.filter((n) => n.startsWith('churn-'))).toHaveLength(50);
    });
  });

  describe('EndpointStore', () => {
    const table: ReferenceTable = { columns: ['x', 'y', 'label'], values: { x: [1, 2, 3], y: ['a', 'b', 'a'], label: [0, 1, 0] }, rows: 3 };

    it('create makes an endpoint once; again with other features is a CONFLICT', async () => {
      const endpoints = new EndpointStore(buckets.endpoints, buckets.references);
      const made = await endpoints.create({ name: 'ep-create', featureNames: ['x'], labelNames: ['label'], monitoring: false });
      expect(made.created).toBe(true);
      expect(made.record).toMatchObject({ id: endpointId('ep-create'), name: 'ep-create', featureNames: ['x'], monitoring: false, featureStats: {} });
      const again = await endpoints.create({ name: 'ep-create', featureNames: [], labelNames: [], monitoring: true });
      expect(again).toEqual({ record: made.record, created: false });
      const err = await rejection(endpoints.create({ name: 'ep-create', featureNames: ['z'], labelNames: [], monitoring: true }));
      expect(err.code).toBe('CONFLICT');
      expect(await endpoints.require('ep-create')).toEqual(made.record);
    });

    it('setReference stores the rows, then the statistics on the record; an endpoint without features takes the columns that are not labels', async () => {
      const endpoints = new EndpointStore(buckets.endpoints, buckets.references);
      await endpoints.create({ name: 'ep-ref', featureNames: [], labelNames: ['label'], monitoring: true });
      const rec = await endpoints.setReference('ep-ref', table);
      expect(rec.featureNames).toEqual(['x', 'y']);
      expect(Object.keys(rec.featureStats).sort()).toEqual(['label', 'x', 'y']);
      expect(rec.referenceRowCount).toBe(3);
      expect(rec.referenceRevision).toBe(rec.updatedAt);
      const blob = await buckets.references.getBlob(`${endpointId('ep-ref')}.json`);
      expect(JSON.parse(new TextDecoder().decode(blob!))).toEqual(table);
      expect((await rejection(endpoints.setReference('ep-missing', table))).code).toBe('NOT_FOUND');
    });

    it('setMonitoring turns monitoring off and on; adoptNames fills only lists still empty', async () => {
      const endpoints = new EndpointStore(buckets.endpoints);
      await endpoints.create({ name: 'ep-names', featureNames: ['f1'], labelNames: [], monitoring: true });
      expect((await endpoints.setMonitoring('ep-names', false)).monitoring).toBe(false);
      expect((await endpoints.setMonitoring('ep-names', true)).monitoring).toBe(true);
      expect((await rejection(endpoints.setMonitoring('ep-missing', true))).code).toBe('NOT_FOUND');

      const adopted = await endpoints.adoptNames('ep-names', { featureNames: ['other'], labelNames: ['out'] });
      expect(adopted).toMatchObject({ featureNames: ['f1'], labelNames: ['out'] });
      const before = await revision(buckets.endpoints, 'ep-names');
      expect(await endpoints.adoptNames('ep-names', { labelNames: ['again'] })).toMatchObject({ labelNames: ['out'] });
      expect(await revision(buckets.endpoints, 'ep-names')).toBe(before);
      expect(await endpoints.adoptNames('ep-missing', { featureNames: ['a'] })).toBeUndefined();
      expect(await endpoints.get('ep-missing')).toBeUndefined();

      const listed = (await endpoints.list()).map((e) => e.name);
      expect(listed).toEqual(['ep-create', 'ep-names', 'ep-ref']);
      expect((await endpoints.names()).sort()).toEqual(listed);
    });

    it('changes of one endpoint made at once by the API and a stream processor are all kept', async () => {
      const api = new EndpointStore(buckets.endpoints, buckets.references);
      const processor = new EndpointStore(buckets.endpoints);
      await api.create({ name: 'ep-busy', featureNames: [], labelNames: [], monitoring: true });
      await Promise.all([
        processor.adoptNames('ep-busy', { labelNames: ['label'] }),
        api.setMonitoring('ep-busy', false),
        api.setReference('ep-busy', table),
        processor.adoptNames('ep-busy', { labelNames: ['other'] }),
      ]);
      const rec = await api.require('ep-busy');
      expect(rec.monitoring).toBe(false);
      expect(rec.referenceRowCount).toBe(3);
      expect(['label', 'other']).toContain(rec.labelNames[0]);
      expect(rec.labelNames).toHaveLength(1);
    });

    it('update sets and clears the model name, version and tags; with no change it writes nothing; concurrent tag changes are all kept', async () => {
      const endpoints = new EndpointStore(buckets.endpoints);
      await endpoints.create({ name: 'ep-upd', featureNames: [], labelNames: [], monitoring: true, modelName: 'churn', tags: { team: 'fraud' } });
      const rec = await endpoints.update('ep-upd', { modelVersion: 'v2', setTags: { env: 'prod' } });
      expect(rec).toMatchObject({ modelName: 'churn', modelVersion: 'v2', tags: { team: 'fraud', env: 'prod' } });
      const before = await revision(buckets.endpoints, 'ep-upd');
      expect(await endpoints.update('ep-upd', { modelVersion: 'v2', setTags: { env: 'prod' } })).toEqual(rec);
      expect(await revision(buckets.endpoints, 'ep-upd')).toBe(before);
      await Promise.all([endpoints.update('ep-upd', { setTags: { a: '1' } }), endpoints.update('ep-upd', { setTags: { b: '2' }, removeTags: ['team'] })]);
      expect((await endpoints.require('ep-upd')).tags).toEqual({ env: 'prod', a: '1', b: '2' });
      const cleared = await endpoints.update('ep-upd', { modelName: null, modelVersion: null, removeTags: ['env', 'a', 'b'] });
      expect(cleared.modelName).toBeUndefined();
      expect(cleared.modelVersion).toBeUndefined();
      expect(cleared.tags).toBeUndefined();
      expect((await rejection(endpoints.update('ep-missing', { modelName: 'x' }))).code).toBe('NOT_FOUND');
    });

    it('delete removes the record and its reference rows, once', async () => {
      const endpoints = new EndpointStore(buckets.endpoints, buckets.references);
      await endpoints.create({ name: 'ep-del', featureNames: [], labelNames: ['label'], monitoring: true });
      await endpoints.setReference('ep-del', table);
      const removed = await endpoints.delete('ep-del');
      expect(removed.name).toBe('ep-del');
      expect(await endpoints.get('ep-del')).toBeUndefined();
      expect(await buckets.references.getBlob(`${endpointId('ep-del')}.json`)).toBeNull();
      expect((await rejection(endpoints.delete('ep-del'))).code).toBe('NOT_FOUND');
      // an endpoint without a reference is deleted too, and can be created again
      await endpoints.create({ name: 'ep-del', featureNames: [], labelNames: [], monitoring: true });
      await endpoints.delete('ep-del');
      expect((await endpoints.create({ name: 'ep-del', featureNames: ['x'], labelNames: [], monitoring: true })).created).toBe(true);
    });

    it('setReference needs the reference store', async () => {
      await expect(new EndpointStore(buckets.endpoints).setReference('ep-names', table)).rejects.toThrow(/no reference store/);
    });

    // read your writes: the API passes the refresh of its process's watched copy as `written`, so the
    // next request it answers (an event checked against a reference just set) sees the change however
    // late the watch brings it; the watch is stopped here, so only the hook can bring the change
    it('written: reference, monitoring, tags and removal are in the watched copy when the change returns; without the hook the copy stays behind', async () => {
      const plain = new EndpointStore(buckets.endpoints, buckets.references);
      await plain.create({ name: 'seen', featureNames: ['a'], labelNames: ['y'], monitoring: true });
      await plain.create({ name: 'behind', featureNames: ['a'], labelNames: ['y'], monitoring: true });
      const watched = new WatchedKv<EndpointRecord>(buckets.endpoints);
      await watched.start();
      expect(watched.peek('seen')?.monitoring).toBe(true);
      // from here on the watch brings nothing: a watch that lags, as far as it can
      watched.stop();
      const store = new EndpointStore(buckets.endpoints, buckets.references, (name) => watched.fresh(name, Date.now()));

      await store.setReference('seen', { columns: ['a', 'y'], values: { a: [1, 2, 3], y: [0, 1, 0] }, rows: 3 });
      expect(watched.peek('seen')?.referenceRowCount).toBe(3);
      expect((await watched.get('seen'))?.featureStats?.a).toMatchObject({ type: 'numeric' });
      await store.setMonitoring('seen', false);
      expect(watched.peek('seen')?.monitoring).toBe(false);
      await store.update('seen', { setTags: { team: 'risk' } });
      expect(watched.peek('seen')?.tags).toEqual({ team: 'risk' });
      await store.delete('seen');
      expect(watched.peek('seen')).toBeUndefined();

      // the same change through a store without the hook: the copy still has the record as it was
      await plain.setMonitoring('behind', false);
      expect(watched.peek('behind')?.monitoring).toBe(true);
      expect((await plain.get('behind'))?.monitoring).toBe(false);
    });

    // a read sent in the millisecond of the change may have left before it: the clock stands
    // still here, so every read is sent in that millisecond and each fresh() must send its own
    it('fresh: a read sent in the same millisecond as sentAfterMs does not serve it', async () => {
      const plain = new EndpointStore(buckets.endpoints, buckets.references);
      await plain.create({ name: 'same-ms', featureNames: ['a'], labelNames: [], monitoring: true });
      const watched = new WatchedKv<EndpointRecord>(buckets.endpoints);
      await watched.start();
      watched.stop();
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        await plain.update('same-ms', { setTags: { team: 'risk' } });
        expect((await watched.fresh('same-ms', Date.now()))?.tags).toEqual({ team: 'risk' });
        await plain.delete('same-ms');
        expect(await watched.fresh('same-ms', Date.now())).toBeUndefined();
      } finally {
        vi.useRealTimers();
      }
    });
  });

  describe('SettingsStore', () => {
    it('init creates the settings once; change turns monitoring off and schedules a period change from the next boundary', async () => {
      await buckets.settings.purge(SETTINGS_KEY);
      const settings = new SettingsStore(buckets.settings, { allowedLatenessMs: 1000, maxFutureSkewMs: 300_000, retentionMs: 3_600_000 });
      expect(await settings.read()).toBeUndefined();
      expect((await rejection(settings.change({ enabled: false }))).code).toBe('NOT_FOUND');

      const created = await settings.init(5000);
      expect(created).toMatchObject({ enabled: true, periods: [{ fromMs: 0, periodMs: 5000 }] });
      expect(await settings.init(60_000)).toEqual(created);

      const off = await settings.change({ enabled: false });
      expect(off.enabled).toBe(false);
      expect(off.periods).toEqual(created.periods);

      const before = Date.now();
      const changed = await settings.change({ basePeriodMs: 10_000 });
      expect(changed.enabled).toBe(false);
      expect(changed.periods).toHaveLength(2);
      const boundary = changed.periods[1]!.fromMs;
      expect(changed.periods[1]!.periodMs).toBe(10_000);
      // the window open when it was asked for keeps its length
      expect(boundary).toBeGreaterThan(before);
      expect(boundary).toBe(windowAt(boundary - 1, created.periods).end);
      expect(changed.changes).toHaveLength(1);
      expect(await settings.read()).toEqual(changed);
    });
  });

  describe('BatchStore', () => {
    it('recordEnd records a batch once; markDispatched moves it from ingested to dispatched once', async () => {
      const batches = new BatchStore(buckets.batches);
      const batch: BatchRecord = { endpoint: 'ep', endpointId: endpointId('ep'), batchId: 'b1', endSeq: 10, status: 'ingested', createdAt: 1 };
      expect(await batches.recordEnd(batch)).toEqual(batch);
      expect(await batches.recordEnd({ ...batch, endSeq: 99 })).toEqual(batch);

      const dispatched = await batches.markDispatched(batch, 4, ['drift'], 1000);
      expect(dispatched).toEqual({ ...batch, status: 'dispatched', windows: 4, apps: ['drift'], dispatchedAt: 1000 });
      expect(await batches.markDispatched(batch, 7, ['other'], 2000)).toEqual(dispatched);
      expect(await batches.markDispatched({ endpoint: 'ep', batchId: 'missing' }, 1, [], 1)).toBeUndefined();
    });
  });
});

/** The topology made again by a later start: what a changed --retention changes. */
describe('topology', () => {
  it('a changed --retention reaches the buckets that expire and the artifact store, and no other bucket', async () => {
    await using nats = await startTestNats();
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const maxAge = async (stream: string) => (await jsm.streams.info(stream)).config.max_age;
      const expiring = [BucketNames.streaks, BucketNames.poison, BucketNames.deferrals, BucketNames.alertSent].map((b) => `KV_${b}`);
      await ensureTopology(nc, jsm, { retentionMs: 3_600_000 });
      for (const s of [...expiring, `OBJ_${ARTIFACT_STORE}`]) expect(await maxAge(s), s).toBe(3_600_000 * 1e6);
      // longer, then shorter
      for (const retentionMs of [7 * 86_400_000, 900_000]) {
        await ensureTopology(nc, jsm, { retentionMs });
        for (const s of [...expiring, `OBJ_${ARTIFACT_STORE}`]) expect(await maxAge(s), s).toBe(retentionMs * 1e6);
        expect(await maxAge(Streams.events)).toBe(retentionMs * 1e6);
        // the records that must outlive any retention keep theirs: none
        expect(await maxAge(`KV_${BucketNames.plugins}`)).toBe(0);
        expect(await maxAge(`KV_${BucketNames.endpoints}`)).toBe(0);
      }
    } finally {
      await nc.close();
    }
  });
});
