// Turns a validation report (see src/validation/report.ts) into the page's verdict and one
// card per signature. Every value from the file (names, organisations) goes in through
// textContent, never as HTML: a hostile certificate cannot inject markup.

import { TEXT } from './i18n.js';

const TIME_ZONE = 'Asia/Ho_Chi_Minh';

/** A date and time in Vietnam time, e.g. "16:46:15 29/11/2026 (giờ Việt Nam)". */
export function formatTime(iso, lang) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const f = new Intl.DateTimeFormat(lang === 'vi' ? 'vi-VN' : 'en-GB', {
    timeZone: TIME_ZONE,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  return `${f.format(d)} (${TEXT[lang].timeZone})`;
}

export function formatSize(bytes, lang) {
  const nf = new Intl.NumberFormat(lang === 'vi' ? 'vi-VN' : 'en-GB', { maximumFractionDigits: 1 });
  if (bytes < 1024) return `${nf.format(bytes)} B`;
  if (bytes < 1024 * 1024) return `${nf.format(bytes / 1024)} KB`;
  return `${nf.format(bytes / 1024 / 1024)} MB`;
}

/**
 * green: every signature passed and nothing disallowed follows; red: something failed (or
 * there is no signature at all); amber: nothing failed, but something could not be established.
 */
export function overallTone(report) {
  if (report.valid) return 'good';
  const sigs = report.signatures ?? [];
  const stamps = report.documentTimestamps ?? [];
  if (sigs.length === 0) return 'bad';
  const failed = [...sigs, ...stamps].some((s) => s.indication === 'TOTAL_FAILED' || s.modifiedAfterSigning === 'disallowed' || s.integrity === false);
  return failed ? 'bad' : 'warn';
}

const toneOfIndication = (i) => (i === 'TOTAL_PASSED' ? 'good' : i === 'TOTAL_FAILED' ? 'bad' : 'warn');

/** [tone, words] for "validity at signing time": the period, then revocation at that time. */
export function validityAtSigning(sig, t) {
  const sub = sig.subIndication;
  if (sub === 'REVOKED') return ['bad', t.revokedAtSigning];
  if (sub === 'EXPIRED') return ['bad', t.notValidAtSigning];
  // Without proof of when the signature was made, a later expiry or revocation leaves the answer open, not negative.
  if (sub === 'REVOKED_NO_POE' || sub === 'REVOKED_CA_NO_POE') return ['warn', t.revokedNoProof];
  if (sub === 'OUT_OF_BOUNDS_NO_POE' || sub === 'OUT_OF_BOUNDS_NOT_REVOKED') return ['warn', t.expiredNoProof];
  if (sub === 'NOT_YET_VALID') return ['bad', t.notYetValidAtSigning];
  if (sub === 'TRY_LATER' || sub === 'REVOCATION_OUT_OF_BOUNDS_NO_POE') return ['warn', t.unknownAtSigning];
  if (sig.indication === 'TOTAL_PASSED') return ['good', t.validAtSigning];
  // Failed for another reason (altered, untrusted): state what the dates and revocation data say.
  if (!sig.signer || !sig.signingTime) return ['warn', t.unknownValue];
  const at = Date.parse(sig.signingTime);
  if (at < Date.parse(sig.signer.notBefore)) return ['bad', t.notYetValidAtSigning];
  if (at > Date.parse(sig.signer.notAfter)) return ['bad', t.notValidAtSigning];
  const rv = sig.revocation ?? { status: 'not-checked' };
  const before = !rv.revokedAt || Date.parse(rv.revokedAt) <= at;
  if (rv.status === 'revoked' && before) return ['bad', t.revokedAtSigning];
  if (rv.status === 'suspended' && before) return ['bad', t.suspendedAtSigning];
  if (rv.status === 'unknown' || rv.status === 'not-checked') return ['warn', t.unknownAtSigning];
  return ['good', t.validAtSigning];
}

export function integrityOf(sig, t) {
  if (!sig.integrity) return ['bad', t.altered];
  if (sig.modifiedAfterSigning === 'disallowed') return ['bad', t.changedAfter];
  return sig.modifiedAfterSigning === 'allowed' ? ['good', t.intactAllowed] : ['good', t.intact];
}

function revocationOf(sig, t, lang) {
  const rv = sig.revocation ?? { status: 'not-checked', source: 'none' };
  const when = rv.revokedAt ? formatTime(rv.revokedAt, lang) : '';
  switch (rv.status) {
    case 'good':
      return ['good', t.revGood(t.sources[rv.source] ?? rv.source)];
    case 'revoked':
      return ['bad', t.revRevoked(when)];
    case 'suspended':
      return ['bad', t.revSuspended(when)];
    case 'unknown':
      return ['warn', t.revUnknown];
    default:
      return ['warn', t.revNotChecked];
  }
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** One "label: value" row; a tone adds a coloured mark and a word-bearing icon for screen readers too. */
function row(label, value, tone, key) {
  const dd = el('dd', { class: tone ? `tone tone-${tone}` : undefined }, value);
  return el('div', { class: 'row', 'data-field': key }, el('dt', {}, label), dd);
}

/** One attribute of a distinguished name as the report writes it ("C=VN, O=…, CN=…"). */
function dnAttribute(dn, name) {
  const m = new RegExp(`(?:^|,\\s*)${name}=((?:\\\\,|[^,])+)`).exec(dn ?? '');
  return m ? m[1].replace(/\\,/g, ',').trim() : null;
}

function changesList(sig, t, lang) {
  if (!sig.changes?.length) return null;
  return el(
    'ul',
    { class: 'changes' },
    sig.changes.map((c) =>
      el(
        'li',
        { class: `tone tone-${c.verdict === 'allowed' ? 'good' : 'bad'}` },
        `${t.changeKinds[c.kind] ?? c.kind} — ${t.verdictChange[c.verdict]}`,
        lang === 'en' && c.detail ? ` (${c.detail})` : null,
      ),
    ),
  );
}

function signatureCard(sig, n, total, lang) {
  const t = TEXT[lang];
  const tone = toneOfIndication(sig.indication);
  const verdict = tone === 'good' ? t.sigValid : tone === 'bad' ? t.sigInvalid : t.sigUnknown;
  const s = sig.signer;
  const rows = [];

  rows.push(row(t.signer, s?.commonName ?? s?.subject ?? t.unknownValue, null, 'signer'));
  rows.push(row(t.organisation, s?.organisation ?? t.notStated, null, 'organisation'));
  if (s?.identifiers?.length) rows.push(row(t.identifiers, s.identifiers.map((i) => `${i.type} ${i.value}`).join(', '), null, 'identifiers'));

  const issuerOrg = dnAttribute(sig.certificateChain?.[0]?.issuer, 'O');
  const issuer = s ? (issuerOrg && !s.issuer.includes(issuerOrg) ? `${s.issuer} — ${issuerOrg}` : s.issuer) : t.unknownValue;
  rows.push(row(t.issuer, issuer, null, 'issuer'));

  const stamp = (sig.timestamps ?? []).find((x) => x.kind === 'signature' && x.valid);
  const timeWords = !sig.signingTime
    ? t.noTime
    : `${formatTime(sig.signingTime, lang)} — ${sig.timeSource === 'timestamp' ? (stamp?.tsa ? t.fromTimestampBy(stamp.tsa) : t.fromTimestamp) : t.claimed}`;
  rows.push(row(t.signingTime, timeWords, sig.signingTime ? (sig.timeSource === 'timestamp' ? 'good' : 'info') : 'warn', 'signingTime'));

  const [it, iw] = integrityOf(sig, t);
  rows.push(row(t.integrity, iw, it, 'integrity'));
  const [vt, vw] = validityAtSigning(sig, t);
  rows.push(row(t.validityAtSigning, vw, vt, 'validityAtSigning'));
  rows.push(row(t.certificatePeriod, s ? t.period(formatTime(s.notBefore, lang), formatTime(s.notAfter, lang)) : t.unknownValue, null, 'certificatePeriod'));
  const [rt, rw] = revocationOf(sig, t, lang);
  rows.push(row(t.revocation, rw, rt, 'revocation'));
  // No chain at all means the path was never built (the signature itself failed first): say so, do not call it untrusted.
  const chain = sig.certificateChain ?? [];
  const anchor = chain.at(-1);
  if (!chain.length) rows.push(row(t.trust, t.unknownValue, 'warn', 'trust'));
  else if (anchor.trustAnchor) rows.push(row(t.trust, `${t.trusted}: ${dnAttribute(anchor.subject, 'CN') ?? anchor.subject}`, 'good', 'trust'));
  else rows.push(row(t.trust, t.untrusted, 'bad', 'trust'));
  rows.push(row(t.level, sig.level === 'none' ? t.levelNone : t.levels[sig.level] ?? sig.level, null, 'level'));
  const cw = sig.modifiedAfterSigning === 'none' ? t.noChanges : sig.modifiedAfterSigning === 'allowed' ? t.allowedChanges : t.disallowedChanges;
  const ct = sig.modifiedAfterSigning === 'disallowed' ? 'bad' : 'good';
  rows.push(el('div', { class: 'row', 'data-field': 'changes' }, el('dt', {}, t.changes), el('dd', {}, el('span', { class: `tone tone-${ct}` }, cw), changesList(sig, t, lang))));

  const messages = sig.messages?.[lang] ?? [];
  const headingId = `sig-${n}-title`;
  return el(
    'li',
    { class: `card card-${tone}`, 'data-indication': sig.indication },
    el(
      'article',
      { 'aria-labelledby': headingId },
      el('h3', { id: headingId, class: 'card-title' }, el('span', { class: 'card-n' }, t.signatureN(n, total)), el('span', { class: `badge badge-${tone}` }, verdict)),
      el('dl', { class: 'fields' }, rows),
      messages.length ? el('details', { class: 'messages', open: tone !== 'good' }, el('summary', {}, t.details), el('ul', {}, messages.map((m) => el('li', {}, m)))) : null,
      el(
        'details',
        { class: 'technical' },
        el('summary', {}, t.technical),
        el(
          'dl',
          { class: 'fields' },
          row(t.field, sig.field),
          row(t.indication, sig.subIndication ? `${sig.indication} / ${sig.subIndication}` : sig.indication),
          s ? row(t.serial, s.serial) : null,
          s ? row(t.subject, s.subject) : null,
          (sig.certificateChain ?? []).length ? row(t.chain, el('ol', {}, sig.certificateChain.map((c) => el('li', {}, c.subject)))) : null,
        ),
      ),
    ),
  );
}

function documentTimestamps(report, lang) {
  const t = TEXT[lang];
  const stamps = report.documentTimestamps ?? [];
  if (!stamps.length) return null;
  return el(
    'section',
    { class: 'doc-stamps', 'aria-labelledby': 'doc-stamps-title' },
    el('h2', { id: 'doc-stamps-title', class: 'section-title' }, t.docTimestampsTitle),
    el(
      'ul',
      {},
      stamps.map((d) => {
        const tone = toneOfIndication(d.indication);
        return el('li', { class: `tone tone-${tone}` }, t.docTimestamp(d.time ? formatTime(d.time, lang) : t.unknownValue, d.tsa ?? t.unknownValue), ' — ', (d.messages?.[lang] ?? []).join(' '));
      }),
    ),
  );
}

/** Fills the result section with a report. */
export function renderReport(report, file, lang, nodes) {
  const t = TEXT[lang];
  const tone = overallTone(report);
  nodes.verdict.className = `verdict verdict-${tone}`;
  nodes.verdict.dataset.verdict = tone === 'good' ? 'valid' : tone === 'bad' ? 'invalid' : 'indeterminate';
  nodes.title.textContent = tone === 'good' ? t.verdictValid : tone === 'bad' ? t.verdictInvalid : t.verdictUnknown;
  const sigCount = (report.signatures ?? []).length;
  nodes.lead.textContent = tone === 'good' ? t.leadValid : tone === 'warn' ? t.leadUnknown : sigCount === 0 ? t.leadUnsigned : t.leadInvalid;
  nodes.file.textContent = t.fileLine(file.name, formatSize(file.size, lang));
  const overall = report.messages?.[lang] ?? [];
  nodes.messages.replaceChildren(...overall.map((m) => el('li', {}, m)));
  const sigs = report.signatures ?? [];
  nodes.signaturesTitle.hidden = sigs.length === 0;
  nodes.signatures.replaceChildren(...sigs.map((s, i) => signatureCard(s, i + 1, sigs.length, lang)));
  if (!sigs.length && !overall.length) nodes.messages.append(el('li', {}, t.noSignatures));
  nodes.stamps.replaceChildren(...[documentTimestamps(report, lang)].filter(Boolean));
}

/** Fills the result section with a refusal or failure, in plain words. */
export function renderError(error, file, lang, nodes) {
  const t = TEXT[lang];
  nodes.verdict.className = 'verdict verdict-error';
  nodes.verdict.dataset.verdict = 'error';
  nodes.title.textContent = t.errorTitle;
  nodes.lead.textContent = t.errors[error.slug] ?? (error.status >= 500 ? t.errors.server : t.errors.other);
  nodes.file.textContent = file ? t.fileLine(file.name, formatSize(file.size, lang)) : '';
  // The server's own words are English and technical: kept small, for whoever helps the reader.
  nodes.messages.replaceChildren(...(error.detail ? [el('li', { class: 'small' }, `${t.serverSaid}: ${error.detail}`)] : []));
  nodes.signaturesTitle.hidden = true;
  nodes.signatures.replaceChildren();
  nodes.stamps.replaceChildren();
}
