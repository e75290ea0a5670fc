import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { ConfigError, type Warden } from '@tokenwarden/core';
import { EXEMPT, routeRequirement } from './route-requirement';
import { TOKENWARDEN_WARDEN } from './tokens';

/**
 * Checks every controller's Tokenwarden decorators against the warden's policy when the
 * application starts (unknown purpose, invalid scope name, unknown lawful basis, consent and
 * another basis on one route), so `app.init()` / `app.listen()` fails instead of a request.
 */
@Injectable()
export class TokenwardenRouteValidator implements OnModuleInit {
  constructor(
    @Inject(TOKENWARDEN_WARDEN) private readonly warden: Warden,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getControllers()) {
      const controller: unknown = wrapper.metatype;
      if (typeof controller !== 'function') continue;
      const prototype = controller.prototype as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function') continue;
        const requirement = routeRequirement(this.reflector, handler, controller);
        if (requirement === undefined || requirement === EXEMPT) continue;
        try {
          this.warden.requirement(requirement);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          throw new ConfigError(`${controller.name}.${name}: ${message}`);
        }
      }
    }
  }
}
