import { MemorySink, type WardenStore } from '@tokenwarden/core';
import { listen, runStory, type StoryResult, type StoryStep } from '@tokenwarden/example-shared';
import { createApp } from './app';

/** One step of the story: what was asked, what came back, what was expected. */
export type DemoStep = StoryStep;

export type DemoResult = StoryResult;

/**
 * Walks the Tokenwarden story over real HTTP: issue → read → write refused → revoke → refused →
 * consent read → withdrawal → refused even with a fresh token; then prints audit and metrics.
 */
export async function runDemo(
  options: { store?: WardenStore; print?: (line: string) => void } = {},
): Promise<DemoResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  // The story prints the trail itself, from memory.
  const audit = new MemorySink();
  const { app, tw, issue, tokenClient } = createApp({ store: options.store, sinks: [audit] });
  const warden = tw.warden;
  const server = await listen(app);
  let result: DemoResult;
  try {
    print('Tokenwarden demo: a customer API over personal data');
    print(`store: ${options.store ? options.store.constructor.name : 'MemoryStore (embedded)'}`);
    result = await runStory({ baseUrl: server.baseUrl, warden, issue, print, tokenClient });

    await warden.flushAudit();
    print('\nAudit trail (JSON lines; tokens appear only as keyed fingerprints):');
    for (const event of audit.events) print(JSON.stringify(event));
    print('\nMetrics (tokenwarden_* series, histogram buckets left out):');
    const metrics = await warden.metrics.render();
    for (const line of metrics.split('\n')) {
      if (line.startsWith('tokenwarden_') && !line.includes('_bucket{')) print(line);
    }
  } finally {
    await server.close();
    await warden.close();
  }
  print(`\n${result.ok ? 'demo passed' : 'demo FAILED'}: ${result.steps.length} steps`);
  return result;
}
