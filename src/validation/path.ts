import { verifySignature } from '../crypto/algorithms.js';
import type { CertView } from './certificate-view.js';
import { keyStrengthProblem, signatureProblem } from './policy.js';
import type { SubIndication } from './report.js';

/**
 * RFC 5280 path building and validation, kept to what a document-signing PKI uses: name
 * chaining (with key identifiers, via OpenSSL's check), signatures, validity at a given time,
 * basicConstraints and pathLenConstraint, keyCertSign for CAs, unknown critical extensions,
 * and the algorithm policy on every signature and key in the path. Policy mappings and name
 * constraints are not processed; a critical nameConstraints extension fails the path.
 */

export interface PathResult {
  /** Leaf first, trust anchor last; null when no path to an anchor exists. */
  chain: CertView[] | null;
  /** The first constraint the path breaks, independent of time. */
  failure: { subIndication: SubIndication; detail: string } | null;
  /** Certificates of the path that are not valid at the validation time. */
  outOfBounds: CertView[];
}

const MAX_DEPTH = 8;
const MAX_STEPS = 500;

/** True when `issuer` issued `cert`: names/key ids chain and the signature verifies. */
export function issued(issuer: CertView, cert: CertView): boolean {
  if (!cert.x509.checkIssued(issuer.x509)) return false;
  return verifySignature({ publicKey: issuer.publicKey, algorithm: cert.signatureAlgorithm, data: cert.tbs, signature: cert.signatureValue });
}

/** Finds paths from `leaf` to one of `anchors` through `pool`, depth-first, bounded. */
export function buildPath(leaf: CertView, pool: CertView[], anchors: CertView[]): CertView[] | null {
  const anchorSet = new Set(anchors.map((a) => a.sha256));
  const candidates = dedupe([...anchors, ...pool]);
  let steps = 0;
  const walk = (path: CertView[]): CertView[] | null => {
    const top = path[path.length - 1];
    if (anchorSet.has(top.sha256)) return path;
    if (path.length >= MAX_DEPTH) return null;
    for (const c of candidates) {
      if (++steps > MAX_STEPS) return null;
      if (path.some((p) => p.sha256 === c.sha256)) continue;
      if (!issued(c, top)) continue;
      const found = walk([...path, c]);
      if (found) return found;
    }
    return null;
  };
  return walk([leaf]);
}

export function validatePath(leaf: CertView, pool: CertView[], anchors: CertView[], at: Date): PathResult {
  const chain = buildPath(leaf, pool, anchors);
  if (!chain) return { chain: null, failure: { subIndication: 'NO_CERTIFICATE_CHAIN_FOUND', detail: 'no path from the signer certificate to a trusted root' }, outOfBounds: [] };
  return { chain, failure: checkConstraints(chain), outOfBounds: chain.filter((c) => !c.validAt(at)) };
}

function checkConstraints(chain: CertView[]): PathResult['failure'] {
  // Walk from the anchor down (RFC 5280 6.1): n = certificates below the anchor.
  let maxPath = Infinity;
  for (let i = chain.length - 2; i >= 0; i--) {
    const cert = chain[i];
    const issuer = chain[i + 1];
    // The path was built from signatures that verified; whether their algorithms are acceptable is asked here.
    const weak = signatureProblem(cert.signatureAlgorithm, `the signature on ${cert.subject}`);
    if (weak) return { subIndication: 'CRYPTO_CONSTRAINTS_FAILURE', detail: weak };
    if (!issuer.isCa) return { subIndication: 'CHAIN_CONSTRAINTS_FAILURE', detail: `${issuer.subject} is not a CA (basicConstraints)` };
    if (issuer.keyUsage && !issuer.keyUsage.has('keyCertSign')) return { subIndication: 'CHAIN_CONSTRAINTS_FAILURE', detail: `${issuer.subject} may not sign certificates (keyUsage)` };
    if (i < chain.length - 2) {
      // issuer is an intermediate: it counts against the path length of those above it
      if (maxPath <= 0 && !issuer.selfIssued) return { subIndication: 'CHAIN_CONSTRAINTS_FAILURE', detail: `path length constraint exceeded at ${issuer.subject}` };
      if (!issuer.selfIssued) maxPath--;
    }
    if (issuer.pathLen !== undefined) maxPath = Math.min(maxPath, issuer.pathLen);
  }
  for (const cert of chain) {
    const weakKey = keyStrengthProblem(cert);
    if (weakKey) return { subIndication: 'CRYPTO_CONSTRAINTS_FAILURE', detail: `${cert.subject}: ${weakKey}` };
  }
  for (const cert of chain.slice(0, -1)) {
    if (cert.unknownCritical.length) return { subIndication: 'CHAIN_CONSTRAINTS_FAILURE', detail: `${cert.subject} has an unsupported critical extension ${cert.unknownCritical.join(', ')}` };
  }
  return null;
}

export function dedupe(certs: CertView[]): CertView[] {
  const seen = new Set<string>();
  return certs.filter((c) => (seen.has(c.sha256) ? false : (seen.add(c.sha256), true)));
}
