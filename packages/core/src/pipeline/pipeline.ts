import type { Access } from '../access';
import type { Decision, DenyDecision } from '../decision';
import type { WardenMetrics } from '../metrics/types';
import type { Requirement } from '../policy/requirement';
import type { RequestView } from '../request';
import { NO_REQUIREMENT, RequestContext } from './context';
import type { Denials } from './denials';
import { observe } from './observe';
import type { DecisionRecorder } from './record';
import type { PolicyRouted, PolicyRouting } from './policy-routing';
import type { Requirements } from './requirements';
import type { Stage, StageOutcome } from './stage';

/** The collaborators of a pipeline, built by the composition root. */
export interface PipelineParts {
  /** The stages of a request, in order (only those the options call for). */
  readonly stages: readonly Stage[];
  /** The stages a route step runs after the middleware's (DPoP, consent state, authorize). */
  readonly routeStages: readonly Stage[];
  readonly requirements: Requirements;
  readonly denials: Denials;
  readonly recorder: DecisionRecorder;
  readonly metrics: WardenMetrics;
  /** False when metrics are off: then nothing is timed or observed (no clock reads at all). */
  readonly observing: boolean;
  /** The policy's routes, when the warden has a `policy`. */
  readonly routing?: PolicyRouting | undefined;
}

/**
 * The runner: walks a list of stages over one request context, synchronously for as long as each
 * stage answers at once, so a warm request creates no promise. When the stages are done it sets
 * the allow (the last stage built it) or, on the first denial, records the denial at once; then
 * the metrics of what the stages observed.
 */
export class Pipeline {
  constructor(private readonly parts: PipelineParts) {}

  /**
   * Runs the request's stages; the access itself when no stage waited for I/O. A request on a
   * route of the warden's policy is checked against the policy's requirement first, then, if
   * allowed, against `requirement` as a route step would be (code adds to the policy).
   */
  begin(view: RequestView, requirement?: Requirement): Access | Promise<Access> {
    const started = this.parts.observing ? performance.now() : 0;
    const routed = this.parts.routing?.route(view);
    if (routed !== undefined) return this.beginRouted(routed, requirement, started);
    const req = requirement ? this.parts.requirements.compile(requirement) : NO_REQUIREMENT;
    const access = new PipelineAccess(this, view, this.parts.denials.of('token_missing'), started);
    access.req = req;
    return this.run(access, this.parts.stages, 0);
  }

  private beginRouted(
    routed: PolicyRouted,
    requirement: Requirement | undefined,
    started: number,
  ): Access | Promise<Access> {
    // Compiled now, so a bad requirement throws before anything runs.
    if (requirement) this.parts.requirements.compile(requirement);
    const denial = this.parts.denials.of('token_missing');
    const access = new PipelineAccess(this, routed, denial, started);
    access.req = routed.value;
    const done = this.run(access, this.parts.stages, 0);
    if (requirement === undefined) return done;
    return done instanceof Promise
      ? done.then((a) => this.alsoRequire(a, requirement))
      : this.alsoRequire(done, requirement);
  }

  /** The code's requirement on a request the policy allowed. */
  private alsoRequire(access: PipelineAccess, requirement: Requirement): Access | Promise<Access> {
    if (access.decision.outcome === 'deny') return access;
    const decided = this.authorize(access, requirement);
    return decided instanceof Promise ? decided.then(() => access) : access;
  }

  /** A route step: the remaining stages for one more requirement on an allowed access. */
  authorize(access: PipelineAccess, requirement: Requirement): Decision | Promise<Decision> {
    if (access.decision.outcome === 'deny') return access.decision;
    access.req = this.parts.requirements.compile(requirement);
    access.phase = 'route';
    access.started = this.parts.observing ? performance.now() : 0;
    access.resetObservations();
    const done = this.run(access, this.parts.routeStages, 0);
    return done instanceof Promise ? done.then(decisionOf) : done.decision;
  }

  /** Records the final decision: metrics and one audit event. */
  record(access: PipelineAccess, status: number | undefined): Promise<void> {
    return this.parts.recorder.record(access, status);
  }

  /** Runs `stages` from `from` on; the context itself, or a promise of it after I/O. */
  run<C extends RequestContext>(ctx: C, stages: readonly Stage[], from: number): C | Promise<C> {
    for (let i = from; i < stages.length; i++) {
      const stage = stages[i]!;
      // A timed stage (one that may call the store) is timed whether it answers now or later.
      const started = stage.timed === true && this.parts.observing ? performance.now() : -1;
      const outcome = stage.run(ctx);
      if (outcome instanceof Promise) {
        return outcome.then((resolved) => this.resume(ctx, stages, i, resolved, started));
      }
      if (started >= 0) this.timed(ctx, started);
      if (outcome !== undefined) return this.refuse(ctx, outcome);
    }
    return this.finish(ctx);
  }

  private resume<C extends RequestContext>(
    ctx: C,
    stages: readonly Stage[],
    index: number,
    outcome: StageOutcome,
    started: number,
  ): C | Promise<C> {
    if (started >= 0) this.timed(ctx, started);
    return outcome === undefined ? this.run(ctx, stages, index + 1) : this.refuse(ctx, outcome);
  }

  /** Records the store call a timed stage made, if it made one: its time and whether it failed. */
  private timed(ctx: RequestContext, started: number): void {
    const operation = ctx.storeOperation;
    if (operation !== undefined) {
      this.parts.metrics.storeCall(
        operation,
        (performance.now() - started) / 1000,
        ctx.storeFailed,
      );
    }
  }

  private finish<C extends RequestContext>(ctx: C): C {
    if (this.parts.observing) {
      ctx.elapsedMs += performance.now() - ctx.started;
      observe(ctx, this.parts.metrics);
    }
    return ctx;
  }

  /** A denial is recorded at once, with the status it carries. */
  private refuse<C extends RequestContext>(ctx: C, denial: DenyDecision): C {
    ctx.decision = denial;
    this.finish(ctx);
    ctx.durable = this.parts.recorder.record(ctx, undefined);
    return ctx;
  }
}

function decisionOf(ctx: RequestContext): Decision {
  return ctx.decision;
}

/** A request's context as the adapters hold it, between `begin` and `settle`. */
export class PipelineAccess extends RequestContext implements Access {
  constructor(
    private readonly pipeline: Pipeline,
    view: RequestView,
    initial: DenyDecision,
    started: number,
  ) {
    super(view, initial, started);
  }

  async authorize(requirement: Requirement): Promise<Decision> {
    return this.pipeline.authorize(this, requirement);
  }

  authorizeNow(requirement: Requirement): Decision | Promise<Decision> {
    return this.pipeline.authorize(this, requirement);
  }

  settle(status?: number): Promise<void> {
    return (this.durable ??= this.pipeline.record(this, status));
  }
}
