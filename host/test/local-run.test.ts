import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseReference } from '../src/domain/reference.js';
import { bundlePlugin } from '../src/plugins/bundle.js';
import { runLocal } from '../src/runner/local.js';

const SAMPLE_STATS = fileURLToPath(new URL('../../test/fixtures/plugins/sample-stats', import.meta.url));
const ARTIFACT_MAKER = fileURLToPath(new URL('../../test/fixtures/plugins/artifact-maker', import.meta.url));

/** `modelwatch plugin test` (runLocal) gives an app the window and the reference as the host does. */
describe('local runs', () => {
  it('make values of the wrong type for the reference missing and count them, and pass every reference column', async () => {
    const bundle = await bundlePlugin(SAMPLE_STATS);
    const sample = parseReference('age,plan,y\n41,pro,1\nforty,pro,0\n38,7,1\n,free,0\n', 'csv');
    const reference = parseReference('age,plan,y,truth\n31,free,0,0\n45,pro,1,1\n52,pro,1,0\n', 'csv');
    const out = await runLocal(bundle, { sample, reference, labelNames: ['y'] });
    const m = Object.fromEntries(out.metrics.map((x) => [x.name, x.value]));
    expect(m).toMatchObject({ rows: 4, wrong__age: 1, missing__age: 2, mean__age: (41 + 38) / 2, wrong__plan: 1, missing__plan: 1, wrong__y: 0 });
    // the endpoint's columns, then the reference file's others (a true target, here)
    expect(Object.keys(m).filter((k) => k.startsWith('ref__'))).toEqual(['ref__age', 'ref__plan', 'ref__y', 'ref__truth']);
  });

  it("returns the window's artifacts, as plugin test prints them", async () => {
    const bundle = await bundlePlugin(ARTIFACT_MAKER);
    const out = await runLocal(bundle, { sample: parseReference('x\n1\n2\n', 'csv') });
    expect(out.artifacts.map((a) => [a.name, a.contentType, Buffer.from(a.body).toString()])).toEqual([
      ['rows.csv', 'text/csv', 'x\n1\n2\n'],
      ['plot.svg', 'image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'],
    ]);
  });
});
