import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Inject,
  Injectable,
  Param,
  Put,
} from '@nestjs/common';
import type { Principal, Warden, WithdrawConsentInput } from '@tokenwarden/core';
import { Auth, InjectWarden } from '@tokenwarden/nest';
// The purposes customers can consent to; the warden refuses routes naming any other.
import { consentProof, PURPOSES } from '@tokenwarden/example-shared';

/** Records consent through the injected warden, so every change is audited. */
@Injectable()
export class ConsentService {
  constructor(@InjectWarden() private readonly warden: Warden) {}

  async grant(customerId: string, purpose: string, actor: Principal, body?: unknown) {
    try {
      return await this.warden.grantConsent({
        ...change(customerId, purpose, actor),
        ...consentProof(body),
      });
    } catch (error) {
      // A malformed notice: the caller's mistake.
      if (error instanceof TypeError) throw new BadRequestException({ error: error.message });
      throw error;
    }
  }

  withdraw(customerId: string, purpose: string, actor: Principal) {
    return this.warden.withdrawConsent(change(customerId, purpose, actor));
  }
}

/** A grant or withdrawal of `purpose` for the customer, recorded as made by `actor`. */
function change(customerId: string, purpose: string, actor: Principal): WithdrawConsentInput {
  return {
    subject: customerId,
    purpose: known(purpose),
    source: actor.client ?? 'unknown-client',
    actor: actor.subject,
  };
}

function known(purpose: string): string {
  if (!Object.hasOwn(PURPOSES, purpose)) {
    throw new BadRequestException({
      error: `unknown purpose; use ${Object.keys(PURPOSES).join(', ')}`,
    });
  }
  return purpose;
}

/**
 * The privacy portal records what customers decide (GDPR Art. 7(1): proof of consent). The
 * policy requires consents:write and records the legal obligation and the customer.
 */
@Controller('customers/:id/consents')
export class ConsentsController {
  constructor(@Inject(ConsentService) private readonly consents: ConsentService) {}

  @Put(':purpose')
  grant(
    @Param('id') id: string,
    @Param('purpose') purpose: string,
    @Auth() actor: Principal,
    @Body() body: unknown,
  ) {
    return this.consents.grant(id, purpose, actor, body);
  }

  @Delete(':purpose')
  withdraw(@Param('id') id: string, @Param('purpose') purpose: string, @Auth() actor: Principal) {
    return this.consents.withdraw(id, purpose, actor);
  }
}
