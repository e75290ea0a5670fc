// The project test command (`pnpm test`): Redis, format, lint, types, build, then jest.
// Stops at the first failing step. Always ends with one line, `N passed, N failed`, taken from
// jest's JSON report (a step failing before jest counts as `0 passed, 1 failed`).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bin = (name) => join(root, 'node_modules', '.bin', name);

/** Runs a command in the repository root with inherited output; resolves its exit code. */
function run(command, args) {
  console.log(`\n> ${[command, ...args].join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: 'inherit' });
    child.on('error', (error) => {
      console.error(`could not start ${command}: ${error.message}`);
      resolve(1);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const steps = [
  ['bash', [join(root, 'scripts', 'ensure-redis.sh')]],
  ['bash', [join(root, 'scripts', 'ensure-prometheus.sh')]],
  ['bash', [join(root, 'scripts', 'ensure-chromium.sh')]],
  [bin('prettier'), ['--check', '.']],
  [bin('eslint'), ['.']],
  [bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']],
  ['pnpm', ['run', 'build']],
];

/** Counts from jest's report; a failed run never reports 0 failures. */
async function jestCounts(reportFile, exitCode) {
  let report;
  try {
    report = JSON.parse(await readFile(reportFile, 'utf8'));
  } catch (error) {
    console.error(`no jest report: ${error instanceof Error ? error.message : String(error)}`);
    return { passed: 0, failed: 1 };
  }
  const passed = report.numPassedTests;
  const failed = report.numFailedTests + report.numRuntimeErrorTestSuites;
  const ok = exitCode === 0 && report.success === true;
  return { passed, failed: ok || failed > 0 ? failed : 1 };
}

async function main() {
  for (const [command, args] of steps) {
    if ((await run(command, args)) !== 0) return { passed: 0, failed: 1 };
  }
  const dir = await mkdtemp(join(tmpdir(), 'tokenwarden-jest-'));
  try {
    const reportFile = join(dir, 'jest-report.json');
    const code = await run(bin('jest'), ['--json', `--outputFile=${reportFile}`]);
    return await jestCounts(reportFile, code);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

let result = { passed: 0, failed: 1 };
try {
  result = await main();
} catch (error) {
  console.error(error);
}
console.log(`${result.passed} passed, ${result.failed} failed`);
process.exitCode = result.failed === 0 ? 0 : 1;
