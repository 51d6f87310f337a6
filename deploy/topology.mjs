#!/usr/bin/env node
/**
 * The one source of modelwatch's example scale-out deployment: the nats-server cluster and the
 * modelwatch processes by role. `docker-compose.yml` and `k8s/*.yaml` are made from it
 * (`node deploy/topology.mjs --write`), test/deploy.test.ts checks that they parse and match it,
 * and test/cluster.test.ts starts its nats-server cluster and its host processes with the same
 * commands (`natsServerArgs`, `hostFlags`) on loopback ports.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const IMAGE = 'modelwatch:latest';
export const NATS_IMAGE = 'nats:2.9-alpine';
export const CLUSTER_NAME = 'modelwatch';
export const NATS_NODES = 3;
export const NATS_CLIENT_PORT = 4222;
export const NATS_CLUSTER_PORT = 6222;
export const HTTP_PORT = 7077;

/**
 * The groups of processes, each a set of roles (`host start --roles`). `api` and `writer` go
 * together: each API answers from its own writer's complete view. `disk`: the group keeps a
 * results store (the writer's LevelDB), rebuilt from MW_OUTPUTS when it starts empty.
 */
export const GROUPS = [
  { name: 'api', roles: ['api', 'writer'], replicas: 2, disk: true, http: true },
  { name: 'stream', roles: ['stream'], replicas: 2, disk: false, http: false },
  { name: 'controller', roles: ['controller'], replicas: 2, disk: false, http: false },
  { name: 'runner', roles: ['runner'], replicas: 2, disk: false, http: false },
];

/**
 * The arguments of nats-server node `i` of the cluster. `at(j)` is where node j listens
 * (`{ host, clientPort, clusterPort }`), `storeDir` its JetStream folder.
 */
export function natsServerArgs(i, { at, storeDir }) {
  const me = at(i);
  const routes = [];
  for (let j = 0; j < NATS_NODES; j++) if (j !== i) routes.push(`nats-route://${at(j).host}:${at(j).clusterPort}`);
  return [
    '--name',
    `nats-${i}`,
    '--cluster_name',
    CLUSTER_NAME,
    '-js',
    '--store_dir',
    storeDir,
    '--addr',
    me.listen ?? '0.0.0.0',
    '--port',
    String(me.clientPort),
    '--cluster',
    `nats://${me.listen ?? '0.0.0.0'}:${me.clusterPort}`,
    '--routes',
    routes.join(','),
  ];
}

/**
 * The flags of `modelwatch host start` for a process of `group`: its roles, the NATS cluster's
 * URLs, its data folder and, where the platform does not give it (env MODELWATCH_NODE_ID), its node id.
 */
export function hostFlags(group, { natsUrls, dataDir, nodeId, httpHost = '0.0.0.0' }) {
  return [
    '--roles',
    group.roles.join(','),
    '--nats',
    natsUrls.join(','),
    '--data-dir',
    dataDir,
    ...(nodeId === undefined ? [] : ['--node-id', nodeId]),
    ...(group.http ? ['--http-host', httpHost, '--allowed-hosts', '*'] : []),
  ];
}

const natsUrlsIn = (host) => Array.from({ length: NATS_NODES }, (_, j) => `nats://${host(j)}:${NATS_CLIENT_PORT}`);

/** docker-compose.yml: three nats-server nodes and one service per process. */
export function compose() {
  const services = {};
  const volumes = {};
  for (let i = 0; i < NATS_NODES; i++) {
    services[`nats-${i}`] = {
      image: NATS_IMAGE,
      command: natsServerArgs(i, { at: (j) => ({ host: `nats-${j}`, clientPort: NATS_CLIENT_PORT, clusterPort: NATS_CLUSTER_PORT }), storeDir: '/data' }),
      volumes: [`nats-${i}:/data`],
    };
    volumes[`nats-${i}`] = {};
  }
  for (const g of GROUPS) {
    for (let k = 0; k < g.replicas; k++) {
      const name = `mw-${g.name}-${k}`;
      services[name] = {
        image: IMAGE,
        command: ['host', 'start', ...hostFlags(g, { natsUrls: natsUrlsIn((j) => `nats-${j}`), dataDir: '/data', nodeId: name })],
        environment: { MODELWATCH_ADMIN_TOKEN: '${MODELWATCH_ADMIN_TOKEN:?set an admin token of 32 or more characters}' },
        depends_on: Array.from({ length: NATS_NODES }, (_, j) => `nats-${j}`),
        ...(g.http ? { ports: [`${HTTP_PORT + k}:${HTTP_PORT}`] } : {}),
        ...(g.disk ? { volumes: [`${name}:/data`] } : {}),
      };
      if (g.disk) volumes[name] = {};
    }
  }
  return { services, volumes };
}

/** k8s/nats.yaml: the nats-server cluster as a StatefulSet behind a headless Service. */
export function k8sNats() {
  const host = (j) => `nats-${j}.nats.modelwatch.svc.cluster.local`;
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nats', namespace: 'modelwatch' },
      spec: {
        clusterIP: 'None',
        selector: { app: 'nats' },
        ports: [
          { name: 'client', port: NATS_CLIENT_PORT },
          { name: 'cluster', port: NATS_CLUSTER_PORT },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'nats', namespace: 'modelwatch' },
      spec: {
        serviceName: 'nats',
        replicas: NATS_NODES,
        selector: { matchLabels: { app: 'nats' } },
        template: {
          metadata: { labels: { app: 'nats' } },
          spec: {
            containers: [
              {
                name: 'nats',
                image: NATS_IMAGE,
                // each pod is node <ordinal>: the shell picks its own arguments
                command: ['sh', '-c', natsCases(host)],
                ports: [
                  { name: 'client', containerPort: NATS_CLIENT_PORT },
                  { name: 'cluster', containerPort: NATS_CLUSTER_PORT },
                ],
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
          },
        },
        volumeClaimTemplates: [
          { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } } },
        ],
      },
    },
  ];
}

function natsCases(host) {
  const cases = Array.from({ length: NATS_NODES }, (_, i) => {
    const args = natsServerArgs(i, { at: (j) => ({ host: host(j), clientPort: NATS_CLIENT_PORT, clusterPort: NATS_CLUSTER_PORT }), storeDir: '/data' });
    return `nats-${i}) exec nats-server ${args.join(' ')} ;;`;
  });
  return `case "$HOSTNAME" in ${cases.join(' ')} esac`;
}

/** k8s/modelwatch.yaml: a Deployment per group of roles, a Service for the APIs. */
export function k8sModelwatch() {
  const natsUrls = natsUrlsIn((j) => `nats-${j}.nats.modelwatch.svc.cluster.local`);
  const docs = [];
  for (const g of GROUPS) {
    docs.push({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `modelwatch-${g.name}`, namespace: 'modelwatch' },
      spec: {
        replicas: g.replicas,
        selector: { matchLabels: { app: `modelwatch-${g.name}` } },
        template: {
          metadata: { labels: { app: `modelwatch-${g.name}` } },
          spec: {
            containers: [
              {
                name: 'modelwatch',
                image: IMAGE,
                args: ['host', 'start', ...hostFlags(g, { natsUrls, dataDir: '/data' })],
                env: [
                  // the pod's name is its node id: its writer's own consumer, its lease holder name
                  { name: 'MODELWATCH_NODE_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'MODELWATCH_ADMIN_TOKEN', valueFrom: { secretKeyRef: { name: 'modelwatch', key: 'admin-token' } } },
                ],
                ...(g.http
                  ? {
                      ports: [{ name: 'http', containerPort: HTTP_PORT }],
                      readinessProbe: { httpGet: { path: '/readyz', port: HTTP_PORT } },
                      livenessProbe: { httpGet: { path: '/healthz', port: HTTP_PORT } },
                    }
                  : {}),
                volumeMounts: [{ name: 'data', mountPath: '/data' }],
              },
            ],
            // a writer's store is a view of MW_OUTPUTS: on an empty disk it is rebuilt from the stream
            volumes: [{ name: 'data', emptyDir: {} }],
          },
        },
      },
    });
  }
  docs.push({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'modelwatch-api', namespace: 'modelwatch' },
    spec: { selector: { app: 'modelwatch-api' }, ports: [{ name: 'http', port: HTTP_PORT, targetPort: HTTP_PORT }] },
  });
  return docs;
}

/** Every generated file: its path under deploy/ and its documents. */
export function generatedFiles() {
  return {
    'docker-compose.yml': [compose()],
    'k8s/nats.yaml': k8sNats(),
    'k8s/modelwatch.yaml': k8sModelwatch(),
  };
}

const HEADER = '# generated by deploy/topology.mjs (node deploy/topology.mjs --write): edit that file, not this one\n';

/** The text of a generated file. */
export function render(docs) {
  return HEADER + docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const dir = fileURLToPath(new URL('.', import.meta.url));
  for (const [path, docs] of Object.entries(generatedFiles())) writeFileSync(`${dir}${path}`, render(docs));
}
