// dependency-cruiser: the layers of ARCHITECTURE.md ("Layers"), checked by `npm run lint` (and
// so by `make test`). A module imports modules of its own layer and of the layers below it,
// never above; there are no import cycles. Type-only imports count: a type is a dependency too.

/** host/src, bottom to top. */
const hostLayers = [
  { name: 'sdk-internal', path: '^host/src/sdk-internal\\.ts$' },
  { name: 'errors', path: '^host/src/errors\\.ts$' },
  // the contract between alert evaluation and notification: types only, for every layer above
  { name: 'alerts-contract', path: '^host/src/alerts/contract\\.ts$' },
  { name: 'clock', path: '^host/src/clock\\.ts$' },
  { name: 'domain', path: '^host/src/domain/' },
  { name: 'logger', path: '^host/src/logger\\.ts$' },
  { name: 'metrics', path: '^host/src/metrics\\.ts$' },
  { name: 'worker-pool', path: '^host/src/worker-pool\\.ts$' },
  { name: 'config', path: '^host/src/config/' },
  { name: 'nats', path: '^host/src/nats/' },
  { name: 'store', path: '^host/src/store/' },
  { name: 'plugins', path: '^host/src/plugins/' },
  { name: 'components', path: '^host/src/((stream|controller|runner|writer)/|alerts/(?!contract\\.ts$))' },
  { name: 'report', path: '^host/src/report/' },
  { name: 'api', path: '^host/src/api/' },
  { name: 'client', path: '^host/src/client/' },
  { name: 'host', path: '^host/src/(host|index)\\.ts$' },
  { name: 'cli', path: '^host/src/cli/' },
];

/** Each layer: not to any layer above it. */
const upward = hostLayers.slice(0, -1).map((layer, i) => {
  const above = hostLayers.slice(i + 1);
  return {
    name: `no-upward-from-${layer.name}`,
    comment: `${layer.name} is below ${above.map((l) => l.name).join(', ')}: it may not import them`,
    severity: 'error',
    from: { path: layer.path },
    to: { path: above.map((l) => l.path) },
  };
});

/** The components talk through NATS only: none imports another. */
const components = ['stream', 'controller', 'runner', 'writer', 'alerts'];
const apart = components.map((c) => ({
  name: `no-component-imports-${c}`,
  comment: `${c}/ is a component: the others reach it through NATS (the protocol), not imports`,
  severity: 'error',
  from: { path: `^host/src/(${components.filter((o) => o !== c).join('|')})/` },
  to: { path: `^host/src/${c}/` },
}));

/** What the host's domain may not touch: it is pure (no I/O, no NATS, no storage, no HTTP, no logging). */
const IO_PACKAGES = '(^|/)node_modules/(@nats-io|level|classic-level|fastify|@fastify|pino|@influxdata|isolated-vm|esbuild|yargs|cli-table3)(/|$)';

export default {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import cycle: the modules in it cannot be understood, tested or moved one at a time',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    ...apart,
    {
      name: 'kv-writes-through-stores',
      comment:
        'records change by the named operations of their stores (PluginStore, EndpointStore, SettingsStore, BatchStore); the compare-and-set primitive under them (store/kv.ts) is theirs alone',
      severity: 'error',
      from: { pathNot: '^host/src/store/' },
      to: { path: '^host/src/store/kv\\.ts$' },
    },
    {
      name: 'prom-client-only-in-metrics',
      comment:
        'the operator metrics and their labels are defined in host/src/metrics.ts; components record through its HostMetrics, never with prom-client itself',
      severity: 'error',
      from: { pathNot: '^host/src/metrics\\.ts$' },
      to: { path: '(^|/)node_modules/prom-client(/|$)' },
    },
    {
      name: 'client-only-api-contract',
      comment: 'the typed HTTP client knows the API by its contract (api/contract.ts) and request schemas (api/schemas.ts), not by its routes',
      severity: 'error',
      from: { path: '^host/src/client/' },
      to: { path: '^host/src/api/', pathNot: '^host/src/api/(contract|schemas)\\.ts$' },
    },
    {
      name: 'domain-is-pure',
      comment: 'host/src/domain/ is rules and arithmetic: no Node I/O module, no NATS, storage, HTTP or logging',
      severity: 'error',
      from: { path: '^host/src/domain/' },
      to: { dependencyTypes: ['core'], pathNot: '^(node:)?crypto$' },
    },
    {
      name: 'domain-no-io-packages',
      comment: 'host/src/domain/ is rules and arithmetic: no NATS, storage, HTTP or logging',
      severity: 'error',
      from: { path: '^host/src/domain/' },
      to: { path: IO_PACKAGES },
    },
    {
      name: 'sdk-stands-alone',
      comment: '@modelwatch/sdk runs in the sandbox and depends on no other package; only its deprecated tracker entry re-exports @modelwatch/tracker',
      severity: 'error',
      from: { path: '^sdk/src/', pathNot: '^sdk/src/tracker\\.ts$' },
      to: { pathNot: '^sdk/src/' },
    },
    {
      name: 'sandbox-runtime-is-sandbox-safe',
      comment:
        "host/src/runner/isolate/ is the sandbox runtime, bundled and run inside the isolate: it imports its own modules, @modelwatch/sdk and the SDK's internal entry (host/src/sdk-internal.ts), no Node module and nothing else of the host",
      severity: 'error',
      from: { path: '^host/src/runner/isolate/' },
      to: { pathNot: '^((host/src/runner/isolate|sdk/src|sdk/dist)/|host/src/sdk-internal\\.ts$)' },
    },
    {
      name: 'protocol-only-types-and-constants',
      comment: '@modelwatch/protocol depends on nothing but the types of @modelwatch/sdk',
      severity: 'error',
      from: { path: '^protocol/src/' },
      to: { pathNot: '^(protocol|sdk)/src/' },
    },
    {
      name: 'protocol-only-sdk-types',
      comment: '@modelwatch/protocol imports only types from @modelwatch/sdk (its JavaScript needs nothing)',
      severity: 'error',
      from: { path: '^protocol/src/' },
      to: { path: '^sdk/src/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'tracker-not-host',
      comment: '@modelwatch/tracker runs in model servers: it knows the protocol, never the host',
      severity: 'error',
      from: { path: '^tracker/src/' },
      to: { path: '^host/' },
    },
    {
      name: 'host-not-tracker',
      comment: 'the host reads what trackers send through the protocol; it does not import the tracker',
      severity: 'error',
      from: { path: '^host/src/' },
      to: { path: '^tracker/' },
    },
    {
      name: 'plugins-only-sdk',
      comment: 'monitoring apps are bundled into the sandbox: they import the SDK, not the host, the protocol, the tracker or NATS',
      severity: 'error',
      from: { path: '^plugins/[^/]+/src/' },
      to: { path: ['^(host|protocol|tracker)/', '^@nats-io/'] },
    },
    {
      name: 'plugins-not-each-other',
      comment: 'a monitoring app is published on its own: it does not import another app (what two apps share belongs in the SDK, as @modelwatch/sdk/drift)',
      severity: 'error',
      from: { path: '^plugins/([^/]+)/' },
      to: { path: '^plugins/', pathNot: ['^plugins/$1/', '^plugins/test-utils/'] },
    },
    {
      name: 'no-deep-package-imports',
      comment: 'a package is reached by its name and exports (@modelwatch/sdk/stats), never by a relative path into its sources',
      severity: 'error',
      from: { path: '^(host|sdk|protocol|tracker)/src/' },
      to: { path: '^(host|sdk|protocol|tracker)/src/', pathNot: '^$1/src/', dependencyTypes: ['local'], dependencyTypesNot: ['aliased'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['/dist/', '\\.test\\.ts$'] },
    tsPreCompilationDeps: true,
    // resolves the workspace packages to their sources, so the layers are checked without a build
    tsConfig: { fileName: 'tsconfig.depcruise.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types', 'default'], extensions: ['.ts', '.js', '.d.ts'] },
  },
};
