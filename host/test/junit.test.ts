import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { WindowRecord } from '@modelwatch/protocol';
import { junitXml, summarize, xmlEscape } from '../src/cli/batch-gate.js';
import { tempDir } from '../../test/helpers/tmp.js';

const run = promisify(execFile);

function window(patch: Partial<WindowRecord>): WindowRecord {
  return {
    endpointId: 'eid-b1',
    endpointName: 'ep',
    app: 'drift',
    version: '1.0.0',
    windowStart: 0,
    windowEnd: 1000,
    outcome: 'ok',
    rows: 10,
    results: [],
    metrics: [],
    durationMs: 1,
    completedAt: 1,
    runner: 'r',
    attempts: 1,
    storedAt: 1,
    ...patch,
  };
}

/** Parse XML back with python3's xml.etree (a parser that is not ours): the error messages as it reads them. */
async function readBack(xml: string): Promise<string[]> {
  await using dir = await tempDir('mw-junit-');
  const file = join(dir.path, 'report.xml');
  await writeFile(file, xml);
  const py = `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
print(json.dumps([e.get('message') for e in root.iter() if e.tag in ('error', 'failure')]))
`;
  return JSON.parse((await run('python3', ['-c', py, file])).stdout) as string[];
}

describe('the JUnit report of batch send --wait', () => {
  it('escapes what XML cannot hold as it is: markup characters and control characters', async () => {
    const nasty = `<script>&"quoted" 'single' ]]> \u0001\u001b[31m tab\tend`;
    const batch = {
      endpoint: 'ep',
      endpointId: 'eid',
      batchId: 'b1',
      endSeq: 1,
      status: 'dispatched' as const,
      createdAt: 0,
      windows: 2,
      apps: ['drift'],
      resultsEndpointId: 'eid-b1',
    };
    const windows = [
      window({ outcome: 'error', error: { code: 'APP_ERROR', message: nasty } }),
      window({ windowStart: 1000, windowEnd: 2000, results: [{ name: 'general_drift', value: 0.9, kind: 0, status: 2, extraData: {} }] }),
    ];
    const s = summarize('ep', 'b1', { batch, windows }, 'detected');
    expect(s).toMatchObject({ verdict: 'fail', exitCode: 1, analysed: 2, expected: 2 });
    const messages = await readBack(junitXml(s));
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatch(/^general_drift reached detected in 1 of 1 window/);
    // the message comes back as it was, but for the control characters XML 1.0 cannot carry
    expect(messages[1]).toBe(`1 window(s) failed: APP_ERROR: ${nasty.replaceAll('\u0001', '\uFFFD').replaceAll('\u001b', '\uFFFD')}`);
    expect(xmlEscape(`a<b>&"'`)).toBe('a&lt;b&gt;&amp;&quot;&apos;');
  });
});
