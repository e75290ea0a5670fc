import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkPolicy, formatDiagnostic } from '@tokenwarden/core/policy';
import type { CliIo } from '../io';
import { inPolicyWords } from '../policy-words';
import { CliError, globalOptions } from '../shared';

/** `tokenwarden policy check FILE`: lint a policy file. */
export function registerPolicyCommands(program: Command, io: CliIo): void {
  const policy = program.command('policy').description('check a policy file');
  policy
    .command('check')
    .description('lint a policy file: every finding names the line and the fix; exit 1 on errors')
    .argument('<file>', 'the policy (YAML or JSON)')
    .option('--strict', 'exit 1 on warnings too')
    .action((file: string, flags: { strict?: boolean }, command: Command) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        throw new CliError(
          `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
          2,
        );
      }
      const diagnostics = checkPolicy(text).diagnostics.map(inPolicyWords);
      const errors = diagnostics.filter((d) => d.severity === 'error').length;
      const warnings = diagnostics.length - errors;
      if (globalOptions(command).json === true) {
        io.stdout.write(JSON.stringify({ file, errors, warnings, diagnostics }) + '\n');
      } else {
        for (const d of diagnostics) io.stdout.write(formatDiagnostic(file, d) + '\n');
        io.stdout.write(
          errors === 0 && warnings === 0
            ? `${file}: policy OK\n`
            : `${file}: ${errors} error(s), ${warnings} warning(s)\n`,
        );
      }
      if (errors > 0 || (flags.strict === true && warnings > 0)) {
        throw new CliError(`${file} does not pass the policy check`, 1);
      }
    });
}
