import { ConfigError } from '../errors';
import { policyRequirement, PolicyRouteTable, PolicyRouteView, routeName } from '../policy/routes';
import type { RoutePolicy } from '../internal/route-policy';
import type { RequestView } from '../request';
import type { CompiledRequirement } from './context';
import type { Requirements } from './requirements';

/** A request routed by the policy: its view (the template as route), `value` its requirement. */
export type PolicyRouted = PolicyRouteView<CompiledRequirement>;

/**
 * The policy's routes on the request path: every route's requirement is validated and compiled
 * when the warden is made (an unknown purpose fails start-up, naming the route), and a request
 * is matched by method and path to the requirement the middleware enforces.
 */
export class PolicyRouting {
  private readonly table: PolicyRouteTable<CompiledRequirement>;

  constructor(policy: RoutePolicy, requirements: Requirements) {
    if (policy === null || typeof policy !== 'object' || typeof policy.purposes !== 'object') {
      throw new ConfigError(
        "'policy' must be a validated policy, as loadPolicyFile() or checkPolicy() from @tokenwarden/core/policy give it",
      );
    }
    this.table = new PolicyRouteTable(policy, (route, index) => {
      try {
        return requirements.compile(policyRequirement(policy, route));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new ConfigError(`policy routes[${index}] (${routeName(route)}): ${message}`);
      }
    });
  }

  /** The policy route of a request, if any: the view to check it with, carrying its requirement. */
  route(view: RequestView): PolicyRouted | undefined {
    const match = this.table.match(view.method, view.path);
    return match === undefined ? undefined : new PolicyRouteView(view, match);
  }
}
