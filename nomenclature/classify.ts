import type { LandClasses } from '../pipeline/core/types.js';
import type { Nomenclature, Profile } from './loader.js';

/**
 * Classification of one source polygon: its code values (one per profile role, e.g. `cs` and `us`) go through
 * the profile onto the OCS GE couverture × usage pair, then through the nomenclature tables onto its décret
 * category, artificialised and sealed flags, NAF/urban class and ENAF destination. The producer's own
 * artificialisation flag, when the source has one, decides `artificialised` (artif_rule `official`).
 *
 * @example
 * classify(loadNomenclature(), loadProfile('ocsge'), { cs: 'CS2.2.1', us: 'US6.1' })
 * // { codeCs: 'CS2.2.1', codeUs: 'US6.1', category: 5, artificialised: true, artifRule: 'matrix', … }
 */
export function classify(
  nomenclature: Nomenclature,
  profile: Profile,
  values: Readonly<Record<string, string>>,
  officialArtif?: boolean,
): LandClasses | null {
  if (Object.keys(profile.roles).some((role) => !values[role])) return null;
  const codes = profile.toCsUs(values);
  return codes ? nomenclature.classify(codes.codeCs, codes.codeUs, officialArtif) : null;
}

/** Category 0 for a polygon whose codes the tables do not know (kept with --unknown-codes=report). */
export function unclassified(nomenclature: Nomenclature, profile: Profile, values: Readonly<Record<string, string>>): LandClasses {
  const [csRole, usRole] = Object.keys(profile.roles);
  const codes = Object.keys(profile.roles).every((role) => values[role]) ? profile.toCsUs(values) : null;
  return nomenclature.unclassified(codes?.codeCs ?? values[csRole!] ?? '', codes?.codeUs ?? (usRole ? values[usRole]! : ''));
}
