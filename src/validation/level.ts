import type { PadesLevel } from './report.js';

/**
 * The PAdES baseline level a signature actually reaches (ETSI EN 319 142-1):
 * B-B  ETSI.CAdES.detached with signing-certificate-v2 (and an intact signature);
 * B-T  + a valid signature timestamp;
 * B-LT + a /DSS holding every certificate of the chain and revocation data for each;
 * B-LTA + a valid document timestamp over a revision that already holds that DSS.
 */
export interface LevelEvidence {
  cadesDetached: boolean;
  signingCertificateV2: boolean;
  intact: boolean;
  validSignatureTimestamp: boolean;
  dssHasChain: boolean;
  dssHasRevocation: boolean;
  documentTimestampAfterDss: boolean;
}

export function padesLevel(e: LevelEvidence): PadesLevel {
  if (!e.cadesDetached || !e.signingCertificateV2 || !e.intact) return 'none';
  if (!e.validSignatureTimestamp) return 'B-B';
  if (!e.dssHasChain || !e.dssHasRevocation) return 'B-T';
  return e.documentTimestampAfterDss ? 'B-LTA' : 'B-LT';
}
