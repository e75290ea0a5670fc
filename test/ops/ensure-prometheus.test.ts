import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { runProcess } from '@tokenwarden/testing';
import { ROOT, requireBinary } from './support';

describe('scripts/ensure-prometheus.sh', () => {
  it('says nothing and succeeds when prometheus and promtool are installed', async () => {
    requireBinary('prometheus');
    requireBinary('promtool');
    const result = await runProcess('bash', [join(ROOT, 'scripts', 'ensure-prometheus.sh')], {
      cwd: ROOT,
    });
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});
