import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelwatchError } from '../src/errors.js';
import { RESERVED_NAMES, resolveManifest, groundTruthDelayMs } from '../src/plugins/manifest.js';
import { appliesTo } from '../src/store/plugins.js';

const valid = {
  name: 'latency-watch',
  version: '1.2.3',
  description: 'Watches p99 latency.',
  entry: 'src/index.ts',
};

/** The message of the PLUGIN_INVALID_MANIFEST error resolving `raw` throws. */
function problems(raw: unknown, source?: string): string {
  try {
    resolveManifest(raw, source);
  } catch (err) {
    expect(err).toBeInstanceOf(ModelwatchError);
    expect((err as ModelwatchError).code).toBe('PLUGIN_INVALID_MANIFEST');
    return (err as Error).message;
  }
  throw new Error('expected the manifest to be rejected');
}

describe('resolveManifest', () => {
  it('fills in default limits, an empty config, runOnEmptyWindows and referenceRows false', () => {
    expect(resolveManifest(valid)).toEqual({
      ...valid,
      limits: { memoryMb: 128, timeoutMs: 10_000, extraDataBytes: 65_536 },
      config: {},
      runOnEmptyWindows: false,
      referenceRows: false,
    });
  });

  it('reads groundTruth.delay as a duration', () => {
    expect(groundTruthDelayMs(resolveManifest({ ...valid, groundTruth: { delay: '2m' } }))).toBe(120_000);
    expect(groundTruthDelayMs(resolveManifest({ ...valid, groundTruth: { delay: 500 } }))).toBe(500);
    expect(groundTruthDelayMs(resolveManifest(valid))).toBeUndefined();
    expect(() => resolveManifest({ ...valid, groundTruth: { delay: 'soon' } })).toThrow(/groundTruth\.delay: 'soon' is not a duration/);
    expect(() => resolveManifest({ ...valid, groundTruth: {} })).toThrow(/groundTruth: missing field 'delay'/);
  });

  it('keeps what the manifest sets, defaulting only the missing limits', () => {
    const m = resolveManifest({
      ...valid,
      $schema: '../../plugin.schema.json',
      limits: { timeoutMs: 2_000 },
      config: { threshold: 0.5, features: ['a', 'b'] },
      runOnEmptyWindows: true,
    });
    expect(m.limits).toEqual({ memoryMb: 128, timeoutMs: 2_000, extraDataBytes: 65_536 });
    expect(m.config).toEqual({ threshold: 0.5, features: ['a', 'b'] });
    expect(m.runOnEmptyWindows).toBe(true);
  });

  it.each(['1.0.0', '0.0.1', '10.20.30', '2.1.0-beta.1', '1.0.0+build.5', '1.0.0-rc.1+sha.abc'])('accepts the version %s', (version) => {
    expect(resolveManifest({ ...valid, version }).version).toBe(version);
  });

  it.each(['a', 'app2', 'my-app', `a${'b'.repeat(62)}`])('accepts the name %s', (name) => {
    expect(resolveManifest({ ...valid, name }).name).toBe(name);
  });

  it.each([
    ['name', "  - (top level): missing field 'name'"],
    ['version', "  - (top level): missing field 'version'"],
    ['description', "  - (top level): missing field 'description'"],
    ['entry', "  - (top level): missing field 'entry'"],
  ])('rejects a manifest without %s', (field, line) => {
    const raw: Record<string, unknown> = { ...valid };
    delete raw[field];
    expect(problems(raw)).toBe(`plugin.json is not valid:\n${line}`);
  });

  it('lists every missing field', () => {
    const message = problems({});
    for (const f of ['name', 'version', 'description', 'entry']) expect(message).toContain(`missing field '${f}'`);
  });

  it('rejects an unknown field, at the top level and in limits', () => {
    const message = problems({ ...valid, main: 'index.js', limits: { cpu: 2 } });
    expect(message).toContain("  - (top level): unknown field 'main'");
    expect(message).toContain("  - limits: unknown field 'cpu'");
  });

  it.each(['Latency', 'latency_watch', '1app', '-app', '', 'app.js', `a${'b'.repeat(63)}`])('rejects the name %j', (name) => {
    expect(problems({ ...valid, name })).toMatch(/^ {2}- name: must match pattern "\^\[a-z\]\[a-z0-9-\]\{0,62\}\$"$/m);
  });

  it.each(['1.0', '1', 'v1.0.0', '01.0.0', '1.0.0.0', 'latest', '1.0.0-'])('rejects the version %j', (version) => {
    expect(problems({ ...valid, version })).toMatch(/^ {2}- version: must match pattern/m);
  });

  it.each([
    [{ description: '' }, '  - description: must NOT have fewer than 1 characters'],
    [{ description: 'x'.repeat(501) }, '  - description: must NOT have more than 500 characters'],
    [{ entry: '' }, '  - entry: must NOT have fewer than 1 characters'],
    [{ name: 7 }, '  - name: must be string'],
    [{ config: [1] }, '  - config: must be object'],
    [{ runOnEmptyWindows: 'yes' }, '  - runOnEmptyWindows: must be boolean'],
    [{ limits: 128 }, '  - limits: must be object'],
  ])('rejects %j', (patch, line) => {
    expect(problems({ ...valid, ...patch })).toContain(line);
  });

  it.each([
    ['memoryMb', 7, 'must be >= 8'],
    ['memoryMb', 4097, 'must be <= 4096'],
    ['memoryMb', 64.5, 'must be integer'],
    ['timeoutMs', 9, 'must be >= 10'],
    ['timeoutMs', 600_001, 'must be <= 600000'],
    ['extraDataBytes', 1023, 'must be >= 1024'],
    ['extraDataBytes', 16 * 1024 * 1024 + 1, 'must be <= 16777216'],
  ])('rejects limits.%s = %d', (limit, value, why) => {
    expect(problems({ ...valid, limits: { [limit]: value } })).toContain(`  - limits.${limit}: ${why}`);
  });

  it.each([
    ['memoryMb', 8],
    ['memoryMb', 4096],
    ['timeoutMs', 10],
    ['timeoutMs', 600_000],
    ['extraDataBytes', 1024],
    ['extraDataBytes', 16 * 1024 * 1024],
  ])('accepts limits.%s = %d', (limit, value) => {
    expect(resolveManifest({ ...valid, limits: { [limit]: value } }).limits).toMatchObject({ [limit]: value });
  });

  it('lists every problem of a manifest at once, under the source name', () => {
    const message = problems({ name: 'Bad', version: '1', description: 'd', entry: 'e', extra: 1, limits: { memoryMb: 1 } }, 'plugins/bad/plugin.json');
    expect(message.split('\n')).toEqual([
      'plugins/bad/plugin.json is not valid:',
      "  - (top level): unknown field 'extra'",
      expect.stringMatching(/^ {2}- name: must match pattern/),
      expect.stringMatching(/^ {2}- version: must match pattern/),
      '  - limits.memoryMb: must be >= 8',
    ]);
  });

  it.each([...RESERVED_NAMES])('rejects the reserved name %s', (name) => {
    expect(problems({ ...valid, name }, 'my/plugin.json')).toBe(`my/plugin.json: the name '${name}' is reserved`);
  });

  it('reserves the names of the built-in components', () => {
    expect([...RESERVED_NAMES].sort()).toEqual(['model-monitoring-controller', 'model-monitoring-stream', 'model-monitoring-writer']);
  });

  it.each([null, 'plugin', [valid], 42])('rejects %j as a manifest', (raw) => {
    expect(problems(raw)).toBe('plugin.json is not valid:\n  - (top level): must be object');
  });
});

describe('endpoints: the endpoints an app applies to', () => {
  it('keeps a list of names and globs, and leaves it out when plugin.json has none', () => {
    expect(resolveManifest({ ...valid, endpoints: ['churn', 'fraud-*', 'model-v?', 'ep-[0-9]', '{a,b}-x'] }).endpoints).toEqual([
      'churn',
      'fraud-*',
      'model-v?',
      'ep-[0-9]',
      '{a,b}-x',
    ]);
    expect(resolveManifest(valid)).not.toHaveProperty('endpoints');
  });

  it.each([
    [[], '  - endpoints: must NOT have fewer than 1 items'],
    ['churn', '  - endpoints: must be array'],
    [['churn', 'churn'], '  - endpoints: must NOT have duplicate items (items ## 1 and 0 are identical)'],
    [[''], '  - endpoints.0: must be an endpoint name or a glob of names'],
    [['churn', 'bad name'], '  - endpoints.1: must be an endpoint name or a glob of names'],
    [['!churn'], '  - endpoints.0: must be an endpoint name or a glob of names'],
    [['a/b'], '  - endpoints.0: must be an endpoint name or a glob of names'],
    [['churn', 'ep-[0-9'], `plugin.json: endpoints.1: "ep-[0-9" is not a valid glob: '[' at 4 is never closed`],
    [['{churn}'], `plugin.json: endpoints.0: "{churn}" is not a valid glob: '{' at 1 has one alternative`],
    [['a,b'], 'plugin.json: endpoints.0: "a,b" is not a valid glob: "," at 2 is outside a {a,b} group'],
    [[7], '  - endpoints.0: must be'],
  ])('rejects endpoints %j', (endpoints, line) => {
    expect(problems({ ...valid, endpoints })).toContain(line);
  });

  it.each([
    [undefined, 'anything', true],
    [['churn'], 'churn', true],
    [['churn'], 'churn-2', false],
    [['churn'], 'Churn', false],
    [['churn-*'], 'churn-eu', true],
    [['churn-*'], 'churn', false],
    [['model-v?'], 'model-v2', true],
    [['model-v?'], 'model-v10', false],
    [['ep-[0-9]'], 'ep-7', true],
    [['ep-[!0-9]'], 'ep-7', false],
    [['{churn,fraud}-eu'], 'fraud-eu', true],
    [['churn', 'fraud-*'], 'fraud-us', true],
    [['*'], 'x_1', true],
  ])('%j applies to %s: %s', (endpoints, name, yes) => {
    expect(appliesTo(endpoints, { name })).toBe(yes);
    expect(appliesTo(endpoints, { name })).toBe(yes); // answered again from what it kept
  });
});

describe('endpoints: tag selectors', () => {
  it('keeps selector entries next to names and globs', () => {
    const endpoints = ['churn', 'selector:team=fraud,env in (prod,staging)'];
    expect(resolveManifest({ ...valid, endpoints }).endpoints).toEqual(endpoints);
  });

  it.each([
    [['selector:env in (prod'], "plugin.json: endpoints: selector 'env in (prod': a set's '(' is never closed"],
    [['selector:team=fraud,,env=prod'], "selector 'team=fraud,,env=prod': an empty requirement"],
    [
      ['selector:'],
      "  - endpoints.0: must be an endpoint name or a glob of names: letters, digits, '_', '-' and the glob characters * ? [ ] { } , ! (not first), at most 128 characters; or 'selector:' and a tag selector",
    ],
    [['team=fraud'], "or 'selector:' and a tag selector"],
  ])('rejects endpoints %j, naming the problem', (endpoints, line) => {
    expect(problems({ ...valid, endpoints })).toContain(line);
  });

  const fraudProd = { name: 'fraud-eu', tags: { team: 'fraud', env: 'prod' } };
  it.each([
    [['selector:team=fraud'], fraudProd, true, false],
    [['selector:team=fraud,env in (staging)'], fraudProd, false, false],
    [['selector:team=fraud'], { name: 'untagged' }, false, false],
    [['selector:!team'], { name: 'untagged' }, true, false],
    [['churn', 'selector:env=prod'], fraudProd, true, false],
    [['fraud-*', 'selector:env=dev'], fraudProd, true, true],
  ])('%j applies to %j: %s (with other tags: %s)', (endpoints, endpoint, yes, withOtherTags) => {
    expect(appliesTo(endpoints, endpoint)).toBe(yes);
    // tags are read as they are now: the same list and name with other tags
    expect(appliesTo(endpoints, { ...endpoint, tags: { team: 'growth', env: 'x' } })).toBe(withOtherTags);
  });
});

describe("the repository's plugins", () => {
  const pluginsDir = new URL('../../plugins/', import.meta.url);
  const manifests = readdirSync(pluginsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(new URL(`${d.name}/plugin.json`, pluginsDir)))
    .map((d) => d.name);

  it('include at least one plugin', () => {
    expect(manifests).toContain('histogram-data-drift');
  });

  it.each(manifests)('plugins/%s/plugin.json is valid and named after its folder', (dir) => {
    const raw = JSON.parse(readFileSync(new URL(`${dir}/plugin.json`, pluginsDir), 'utf8')) as unknown;
    const m = resolveManifest(raw, `plugins/${dir}/plugin.json`);
    expect(m.name).toBe(dir);
    expect(existsSync(new URL(`${dir}/${m.entry}`, pluginsDir))).toBe(true);
  });
});
