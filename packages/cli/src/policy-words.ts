import type { PolicyDiagnostic } from '@tokenwarden/core/policy';

const SECTIONS: Readonly<Record<string, string>> = {
  scopes: 'scope',
  purposes: 'purpose',
  clients: 'client',
};

/** `a string`, `an object` (a list for `array`). */
function kind(type: string): string {
  if (type === 'array') return 'a list';
  if (type === 'object') return 'a mapping';
  if (type === 'undefined') return 'missing';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/**
 * A finding of `policy check` in the policy's own words: the schema validator's generic messages
 * (`Invalid key in record`, `Invalid input`) become what is wrong with that entry of the policy
 * and how to fix it. Findings already in the policy's words are returned as they are.
 */
export function inPolicyWords(d: PolicyDiagnostic): PolicyDiagnostic {
  const message = d.message.trim();
  const dot = d.path.indexOf('.');
  const section = dot === -1 ? d.path : d.path.slice(0, dot);
  const rest = dot === -1 ? '' : d.path.slice(dot + 1);
  let words: string | undefined;
  if (/^Invalid key in record$/i.test(message)) {
    const what = SECTIONS[section] ?? 'entry';
    words = `'${rest}' is not a valid ${what} name: ${what} names are 1-256 characters with no spaces or control characters (e.g. ${section === 'scopes' ? 'orders:read' : section === 'purposes' ? 'marketing' : 'billing-service'})`;
  } else {
    const typed = /^Invalid input: expected (\w+), received (\w+)$/i.exec(message);
    const options = /^Invalid option: expected one of (.+)$/i.exec(message);
    const small = /^Too small: expected (?:string|array) to have >=?1 (?:characters?|items?)$/i;
    if (typed) {
      words = `this must be ${kind(typed[1]!)}, not ${kind(typed[2]!)}`;
    } else if (options) {
      words = `this must be one of ${options[1]!.replace(/"/g, "'").replace(/\|/g, ', ')}`;
    } else if (small.test(message)) {
      words = 'this must not be empty';
    } else if (/^Invalid input$/i.test(message)) {
      words =
        'this value is of the wrong kind: check its type (text, number, list or mapping) against the policy format';
    }
  }
  return words === undefined ? d : { ...d, message: words };
}
