import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkPolicy, formatDiagnostic } from '@tokenwarden/core/policy';
import { appDrift } from '../policy-app';
import type { CliIo } from '../io';
import { inPolicyWords } from '../policy-words';
import { CliError, globalOptions } from '../shared';

/**
 * `tokenwarden policy check FILE [--app MODULE]`: lint a policy file and, with `--app`, compare
 * the application's routes with it (the start-up drift check, for CI).
 */
export function registerPolicyCommands(program: Command, io: CliIo): void {
  const policy = program.command('policy').description('check a policy file');
  policy
    .command('check')
    .description('lint a policy file: every finding names the line and the fix; exit 1 on errors')
    .argument('<file>', 'the policy (YAML or JSON)')
    .option('--strict', 'exit 1 on warnings too')
    .option(
      '--app <module>',
      "also compare the application's routes with the policy (drift): a module exporting the app (default or 'app' export), or a function returning it",
    )
    .action(async (file: string, flags: { strict?: boolean; app?: string }, command: Command) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        throw new CliError(
          `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
          2,
        );
      }
      const checked = checkPolicy(text);
      const diagnostics = checked.diagnostics.map(inPolicyWords);
      const drift =
        flags.app !== undefined && checked.policy !== undefined
          ? await appDrift(flags.app, checked.policy)
          : [];
      const errors = diagnostics.filter((d) => d.severity === 'error').length + drift.length;
      const warnings = diagnostics.length + drift.length - errors;
      if (globalOptions(command).json === true) {
        io.stdout.write(JSON.stringify({ file, errors, warnings, diagnostics, drift }) + '\n');
      } else {
        for (const d of diagnostics) io.stdout.write(formatDiagnostic(file, d) + '\n');
        for (const f of drift) io.stdout.write(`${flags.app}: error drift ${f.message}\n`);
        io.stdout.write(
          errors === 0 && warnings === 0
            ? `${file}: policy OK${flags.app !== undefined ? `, ${flags.app} matches it` : ''}\n`
            : `${file}: ${errors} error(s), ${warnings} warning(s)\n`,
        );
      }
      if (errors > 0 || (flags.strict === true && warnings > 0)) {
        throw new CliError(`${file} does not pass the policy check`, 1);
      }
    });
}
