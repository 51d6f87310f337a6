// dependency-cruiser: the layering of ARCHITECTURE.md ("Layers"), checked by `npm run lint`.
// A module may import modules of its own layer and of the layers below it, never above; no
// import cycles. Type-only imports count (a type is a dependency too).

/** host/src, bottom to top. */
const hostLayers = [
  { name: 'errors', path: '^host/src/errors\\.ts$' },
  { name: 'domain', path: '^host/src/domain/' },
  { name: 'logger', path: '^host/src/logger\\.ts$' },
  { name: 'config', path: '^host/src/config/' },
  { name: 'nats', path: '^host/src/nats/' },
  { name: 'store', path: '^host/src/store/' },
  { name: 'plugins', path: '^host/src/plugins/' },
  { name: 'components', path: '^host/src/(stream|controller|runner|writer)/' },
  { name: 'api', path: '^host/src/api/' },
  { name: 'client', path: '^host/src/client/' },
  { name: 'host', path: '^host/src/(host|index)\\.ts$' },
  { name: 'cli', path: '^host/src/cli/' },
];

/** Each layer: not to any layer above it. */
const upward = hostLayers.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.name}`,
  comment: `${layer.name} is below ${hostLayers
    .slice(i + 1)
    .map((l) => l.name)
    .join(', ')}: it may not import them`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: hostLayers.slice(i + 1).map((l) => l.path) },
}));

/** The components talk through NATS only: none imports another. */
const components = ['stream', 'controller', 'runner', 'writer'];
const apart = components.map((c) => ({
  name: `no-component-imports-${c}`,
  comment: `${c}/ is a component: the others reach it through NATS, not imports`,
  severity: 'error',
  from: { path: `^host/src/(${components.filter((o) => o !== c).join('|')})/` },
  to: { path: `^host/src/${c}/` },
}));

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
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['/dist/', '\\.test\\.ts$'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.depcruise.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types', 'default'], extensions: ['.ts', '.js', '.d.ts'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
