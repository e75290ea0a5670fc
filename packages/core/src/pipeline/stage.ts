import type { DenyDecision } from '../decision';
import type { RequestContext } from './context';

/** A stage's answer: go on (`undefined`) or a denial. */
export type StageOutcome = DenyDecision | undefined;

/** A stage's answer now, or a promise of it when the stage needed I/O. */
export type StageResult = StageOutcome | Promise<StageOutcome>;

/**
 * One step of the request pipeline. A stage reads and writes the request context and calls its
 * own collaborators, given when it was built; it never calls back into the warden, records no
 * metric and writes no audit event (the runner does, from the finished context). It answers
 * synchronously unless it truly waits for I/O, so a warm request creates no promise.
 */
export interface Stage {
  /** Short name, for tests and diagnostics. */
  readonly name: string;
  /** True when the runner should time the stage: it may call the store (see `storeOperation`). */
  readonly timed?: boolean;
  run(ctx: RequestContext): StageResult;
}
