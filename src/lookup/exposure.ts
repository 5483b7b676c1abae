/**
 * (Agency) What one interface call may be answered with: each requested field withheld, raw
 * or banded as the agency's policy exposes it for the purpose, and which enterprises' consent
 * covers the fields it exposes.
 *
 * A call that would answer no field at all is refused (rule field.not-exposed): its reply
 * would still say which of the named enterprises the agency holds (identified mode), or its
 * tag set would list the whole register (blind mode), without any enterprise's consent,
 * since consent is given for fields (test/attacks/lookup-withheld-membership.test.ts).
 */
import { errors } from '../errors.ts';
import { filterByConsent, type ConsentContext } from '../governance/consent.ts';
import { checkJob } from '../governance/policy.ts';
import { bandOf } from './bands.ts';
import type { AgencyGovernance, LookupRequest } from './lookup.ts';

/** How the agency answers one requested field: withheld, raw, or as a band of this relative width. */
export type FieldExposure = 'withheld' | 'raw' | { readonly bandWidth: number };

/** (Agency) How it may answer each field of `request`: as its policy exposes it for the purpose; refuses an unknown partner or purpose. */
export function fieldExposures(governance: AgencyGovernance, request: LookupRequest): FieldExposure[] {
  const { policy } = governance;
  if (!policy) return request.fields.map(() => 'raw');
  const exposures = request.fields.map((field): FieldExposure => {
    const decision = checkJob(policy, { ...request, fields: [field] });
    if (!decision.admitted) {
      if (decision.refusal.rule.startsWith('field.')) return 'withheld';
      throw decision.refusal;
    }
    const width = policy.purposes.get(request.purpose)!.banded.get(field);
    return width === undefined ? 'raw' : { bandWidth: width };
  });
  if (exposures.length > 0 && exposures.every((e) => e === 'withheld')) {
    const exposed = policy.purposes.get(request.purpose)?.fields ?? [];
    throw errors.policyRefused(
      'field.not-exposed',
      `none of ${request.fields.join(', ')} is exposed to ${request.partner} for ${request.purpose}, and a call that answers no field would still say which enterprises the agency holds; ask for at least one exposed field (${exposed.length > 0 ? `exposed: ${exposed.join(', ')}` : 'this purpose exposes none'})`,
    );
  }
  return exposures;
}

/** (Agency) A register cell as the exposure says: a band where the policy bands the field (a non-numeric cell gives nothing). */
export function exposedValue(cell: string, exposure: FieldExposure): string | null {
  if (exposure === 'withheld') return null;
  if (exposure === 'raw' || cell === '') return cell;
  const n = Number(cell);
  return Number.isFinite(n) ? bandOf(n, exposure.bandWidth) : null;
}

/** (Agency) Whether calls for `purpose` need each enterprise's consent: the agency holds tokens, or its policy asks for them. */
export function consentRequired(governance: AgencyGovernance, purpose: string): boolean {
  return governance.consent !== undefined || (governance.policy?.purposes.get(purpose)?.consentRequired ?? false);
}

/** (Agency) Which of `ids` (normalised) have consent covering the request's permitted fields (at least one); all when no consent is required. */
export function consented(governance: AgencyGovernance, request: LookupRequest, permitted: readonly string[], ids: readonly string[]): { allowed: boolean[]; excluded: number } {
  if (!consentRequired(governance, request.purpose)) return { allowed: ids.map(() => true), excluded: 0 };
  // Consent is given for fields: with none permitted there is nothing it could cover (fieldExposures refuses such a call first).
  if (permitted.length === 0) return { allowed: ids.map(() => false), excluded: ids.length };
  if (!governance.consent) throw errors.policyRefused('consent.missing', `purpose ${request.purpose} needs the enterprises' consent and the agency holds no tokens`);
  const context: ConsentContext = {
    trustedIssuers: governance.consent.trustedIssuers,
    now: governance.now?.() ?? new Date(),
    partners: [request.partner],
    purpose: request.purpose,
    fields: permitted,
    revoked: governance.consent.revoked ?? new Set(),
  };
  const filter = filterByConsent(ids, governance.consent.tokens, context);
  const allowed = ids.map(() => false);
  for (const row of filter.included) allowed[row] = true;
  return { allowed, excluded: filter.excluded };
}

