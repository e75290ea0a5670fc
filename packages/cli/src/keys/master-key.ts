import { readFileSync } from 'node:fs';
import { masterKey, type MasterKey } from '@tokenwarden/core';
import { CliError } from '../shared';

/**
 * The master key: `--master-key-file`, else `$TOKENWARDEN_MASTER_KEY`. Undefined when neither is
 * given and `required` is false. Never echoed.
 */
export function masterKeyOf(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  required: boolean,
  what = '--master-key-file (or TOKENWARDEN_MASTER_KEY)',
): MasterKey | undefined {
  let text: string | undefined;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CliError(
        `cannot read the master key file ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        2,
      );
    }
  } else {
    text = env.TOKENWARDEN_MASTER_KEY;
  }
  if (text === undefined || text === '') {
    if (!required) return undefined;
    throw new CliError(
      'the signing keys are encrypted: pass --master-key-file FILE or set TOKENWARDEN_MASTER_KEY',
      2,
    );
  }
  try {
    return masterKey(text, what);
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), 2);
  }
}
