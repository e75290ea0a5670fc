/**
 * Runs one `tokenwarden` command (its arguments) in this process, as the binary would, and prints
 * one JSON line: its exit code, the ms it took and this process's peak resident set size (KiB),
 * so a test can hold a report over a large trail to a memory bound. Not a test file; run with tsx.
 */
import { Writable } from 'node:stream';
import { runCli } from '@tokenwarden/cli';

const discard = new Writable({
  write(_chunk, _encoding, done) {
    done();
  },
});
const started = performance.now();
const code = await runCli(process.argv.slice(2), {
  stdout: discard,
  stderr: process.stderr,
  env: {},
});
const ms = Math.round(performance.now() - started);
process.stdout.write(JSON.stringify({ code, ms, maxRssKb: process.resourceUsage().maxRSS }) + '\n');
