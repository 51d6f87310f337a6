import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { generatedFiles, GROUPS, hostFlags, HTTP_PORT, NATS_NODES, render } from '../deploy/topology.mjs';
import { componentsOfRoles } from '../host/src/config/options.js';

const DEPLOY = new URL('../deploy/', import.meta.url).pathname;

/** The deployment files (deploy/): made from deploy/topology.mjs, as test/cluster.test.ts's commands are. */
describe('deployment files', () => {
  for (const [path, docs] of Object.entries(generatedFiles())) {
    it(`${path} parses and matches deploy/topology.mjs (node deploy/topology.mjs --write)`, () => {
      const text = readFileSync(`${DEPLOY}${path}`, 'utf8');
      const parsed = parseAllDocuments(text).map((d) => {
        expect(d.errors).toEqual([]);
        return d.toJS() as unknown;
      });
      expect(parsed).toEqual(docs);
      expect(text).toBe(render(docs));
    });
  }

  it('names only roles the host knows, and a NATS StatefulSet and a Deployment per group of roles', () => {
    for (const g of GROUPS) expect(componentsOfRoles(g.roles).length).toBe(g.roles.length);
    const files = generatedFiles();
    const nats = files['k8s/nats.yaml']!.find((d) => d.kind === 'StatefulSet') as { spec: { replicas: number } };
    expect(nats.spec.replicas).toBe(NATS_NODES);
    const deployments = files['k8s/modelwatch.yaml']!.filter((d) => d.kind === 'Deployment') as Array<{ metadata: { name: string } }>;
    expect(deployments.map((d) => d.metadata.name)).toEqual(GROUPS.map((g) => `modelwatch-${g.name}`));
    const compose = files['docker-compose.yml']![0] as { services: Record<string, { command: string[] }> };
    const natsUrls = [0, 1, 2].map((j) => `nats://nats-${j}:4222`);
    expect(compose.services['mw-api-0']!.command).toEqual(['host', 'start', ...hostFlags(GROUPS[0]!, { natsUrls, dataDir: '/data', nodeId: 'mw-api-0' })]);
    expect(compose.services['mw-api-0']!.command).toEqual([
      'host',
      'start',
      '--roles',
      'api,writer',
      '--nats',
      'nats://nats-0:4222,nats://nats-1:4222,nats://nats-2:4222',
      '--data-dir',
      '/data',
      '--node-id',
      'mw-api-0',
      '--http-host',
      '0.0.0.0',
      '--allowed-hosts',
      '*',
    ]);
    expect(compose.services['mw-api-0']).toMatchObject({ ports: [`${HTTP_PORT}:${HTTP_PORT}`] });
  });

  it('the Dockerfile runs the CLI the files give their arguments to', () => {
    const dockerfile = readFileSync(`${DEPLOY}Dockerfile`, 'utf8');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "--no-node-snapshot", "host\/bin\/modelwatch\.js"\]$/m);
    expect(dockerfile).toMatch(/^EXPOSE 7077$/m);
  });
});
