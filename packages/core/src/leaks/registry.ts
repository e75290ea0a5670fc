import { ConfigError } from '../errors';
import type { LeakResponder } from './responder';

// Each warden's leak responder, for the handlers that are given the warden (secret scanning).
const responders = new WeakMap<object, LeakResponder>();

/** Ties a warden to its leak responder; the warden does it once, when it is built. @internal */
export function registerLeakResponder(warden: object, responder: LeakResponder): void {
  responders.set(warden, responder);
}

/** The leak responder of a warden; a ConfigError naming `where` for anything else. @internal */
export function leakResponderOf(warden: unknown, where: string): LeakResponder {
  const responder =
    typeof warden === 'object' && warden !== null ? responders.get(warden) : undefined;
  if (responder === undefined) {
    throw new ConfigError(
      `${where} needs { warden }: the Warden the API uses (createWarden, or the adapter's middleware's warden)`,
    );
  }
  return responder;
}
