import type { DocumentTimestampReport, Messages, SignatureReport, SubIndication } from './report.js';
import type { OverlayWarning } from './signature-overlay.js';

/**
 * Sentences for people, in Vietnamese and English, naming what Circular 15/2025 asks a
 * verifier to show: issuer, signer, organisation, signing time or timestamp, integrity,
 * validity at signing time and the certificate's validity period.
 */

/** Why a signature did not pass, for the first line of its messages. */
export interface Reason {
  vi: string;
  en: string;
}

const REASON: Record<SubIndication, Reason> = {
  FORMAT_FAILURE: { vi: 'cấu trúc chữ ký không hợp lệ (có thể là chữ ký giả mạo)', en: 'the signature structure is invalid (possibly a forged signature)' },
  HASH_FAILURE: { vi: 'nội dung đã ký bị thay đổi', en: 'the signed content was altered' },
  SIG_CRYPTO_FAILURE: { vi: 'giá trị chữ ký không khớp với chứng thư số', en: 'the signature value does not verify with the certificate' },
  REVOKED: { vi: 'chứng thư số đã bị thu hồi trước thời điểm ký', en: 'the certificate was revoked before the signing time' },
  EXPIRED: { vi: 'chứng thư số đã hết hạn tại thời điểm ký', en: 'the certificate had expired at the signing time' },
  NOT_YET_VALID: { vi: 'chứng thư số chưa có hiệu lực tại thời điểm ký', en: 'the certificate was not yet valid at the signing time' },
  SIG_CONSTRAINTS_FAILURE: { vi: 'tài liệu đã bị thay đổi sau khi ký', en: 'the document was changed after signing' },
  CHAIN_CONSTRAINTS_FAILURE: { vi: 'chứng thư số hoặc chuỗi chứng thư không phù hợp để ký tài liệu', en: 'the certificate or its chain is not fit for signing documents' },
  CRYPTO_CONSTRAINTS_FAILURE: { vi: 'thuật toán hoặc độ dài khóa không đạt yêu cầu (SHA-2, RSA ≥ 2048, ECDSA ≥ 256)', en: 'the algorithm or key size is not allowed (SHA-2, RSA ≥ 2048, ECDSA ≥ 256 required)' },
  NO_SIGNING_CERTIFICATE_FOUND: { vi: 'không xác định được chứng thư số của người ký', en: 'the signer certificate cannot be identified' },
  NO_CERTIFICATE_CHAIN_FOUND: { vi: 'chứng thư số không thuộc tổ chức cung cấp dịch vụ chứng thực được tin cậy', en: 'the certificate does not chain to a trusted root' },
  REVOKED_NO_POE: { vi: 'chứng thư số đã bị thu hồi và không có dấu thời gian chứng minh chữ ký có trước đó', en: 'the certificate was revoked and no timestamp proves the signature existed before' },
  REVOKED_CA_NO_POE: { vi: 'chứng thư số của tổ chức cấp đã bị thu hồi', en: 'an issuing CA certificate was revoked' },
  OUT_OF_BOUNDS_NO_POE: { vi: 'chứng thư số đã hết hạn hoặc chưa có hiệu lực và không có dấu thời gian chứng minh thời điểm ký', en: 'the certificate is outside its validity period and no timestamp proves when the signature was made' },
  OUT_OF_BOUNDS_NOT_REVOKED: { vi: 'chứng thư số đã hết hạn', en: 'the certificate has expired' },
  REVOCATION_OUT_OF_BOUNDS_NO_POE: { vi: 'thông tin thu hồi có sẵn không bao trùm thời điểm ký', en: 'the available revocation data does not cover the signing time' },
  TRY_LATER: { vi: 'chưa kiểm tra được tình trạng thu hồi của chứng thư số (không có dữ liệu OCSP/CRL)', en: 'the certificate’s revocation status could not be checked (no OCSP/CRL data)' },
};

// One formatter for the process: building an Intl.DateTimeFormat costs more than a report's other messages together.
// Four-digit years: records are kept for decades, and "29/11/26" would be ambiguous in them.
const VI_TIME = new Intl.DateTimeFormat('vi-VN', {
  timeZone: 'Asia/Ho_Chi_Minh',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});
const viTime = (iso: string) => VI_TIME.format(new Date(iso)) + ' (giờ Việt Nam)';
const enTime = (iso: string) => iso.replace(/\.\d{3}Z$/, 'Z');

/**
 * A signature timestamp whose imprint or TSA signature fails is reported INDETERMINATE /
 * SIG_CONSTRAINTS_FAILURE (see validate.ts), whose usual words — the document was changed —
 * would be wrong: this is what the headline says instead.
 */
export const BROKEN_SIGNATURE_TIMESTAMP: Reason = {
  vi: 'dấu thời gian gắn trong chữ ký bị hỏng hoặc đã bị sửa đổi (không khớp với chữ ký), nên không công nhận thời điểm ký mà nó ghi',
  en: 'the timestamp embedded in the signature is broken or was altered (it does not match the signature), so the signing time it states is not accepted',
};

/**
 * Why a timestamp token itself is broken — checkTimestamp's `broken`, the one classification
 * signature and document timestamps share (EN 319 102-1 §5.4) — in words. Only a failed
 * imprint reads differently: a signature timestamp's covers a signature value, a document
 * timestamp's the file's byte ranges.
 */
const BROKEN_TOKEN: Partial<Record<SubIndication, Reason>> = {
  SIG_CRYPTO_FAILURE: { vi: 'chữ ký của đơn vị cấp dấu thời gian (TSA) trên dấu thời gian không xác thực được', en: 'the time-stamping authority’s signature on it does not verify' },
  FORMAT_FAILURE: { vi: 'dấu thời gian sai cấu trúc, không đọc được', en: 'it is malformed and cannot be read' },
};
const IMPRINT_MISMATCH: Record<'signature' | 'document', Reason> = {
  signature: { vi: 'giá trị băm trong dấu thời gian không khớp với giá trị chữ ký', en: 'its message imprint is not the hash of this signature value' },
  document: {
    vi: 'giá trị băm trong dấu thời gian không khớp với phần tài liệu mà nó xác nhận (tài liệu hoặc dấu thời gian đã bị sửa đổi sau khi đóng dấu thời gian)',
    en: 'its message imprint is not the hash of the bytes it covers (the document or the timestamp was altered after timestamping)',
  },
};

/** A document timestamp's own words where a signature's would name the wrong certificate. */
const DOCUMENT_TIMESTAMP_REASON: Partial<Record<SubIndication, Reason>> = {
  NO_SIGNING_CERTIFICATE_FOUND: {
    vi: 'không tìm thấy chứng thư số của đơn vị cấp dấu thời gian (TSA) để kiểm tra (không có trong dấu thời gian và trong tệp)',
    en: 'the certificate of the time-stamping authority that made it is not in the token nor in the file, so it cannot be checked',
  },
};

/** The words for a broken token, or undefined when `sub` is no reason a token breaks for. */
function brokenTokenReason(sub: SubIndication, covers: 'signature' | 'document'): Reason | undefined {
  return sub === 'HASH_FAILURE' ? IMPRINT_MISMATCH[covers] : BROKEN_TOKEN[sub];
}

/** The note on one broken signature timestamp: what failed, and that the time it states proves nothing. */
export function brokenSignatureTimestampMessages(broken: SubIndication, statedTime: string | null): Reason {
  const why = brokenTokenReason(broken, 'signature') ?? REASON[broken];
  const vi = `Dấu thời gian của chữ ký KHÔNG hợp lệ (${broken}): ${why.vi}; thời điểm${statedTime ? ` ${viTime(statedTime)}` : ''} ghi trong đó không được dùng làm bằng chứng thời điểm ký.`;
  const en = `The signature timestamp is NOT valid (${broken}): ${why.en}; the time${statedTime ? ` ${enTime(statedTime)}` : ''} it states is not used as proof of the signing time.`;
  return { vi, en };
}

/** `reason` replaces the sub-indication's own words in the first line when they would mislead. */
export function signatureMessages(r: SignatureReport, notes: Messages, reason?: Reason): Messages {
  const vi: string[] = [];
  const en: string[] = [];
  if (r.indication === 'TOTAL_PASSED') {
    vi.push('Chữ ký hợp lệ.');
    en.push('The signature is valid.');
  } else if (r.indication === 'TOTAL_FAILED') {
    const why = reason ?? (r.subIndication ? REASON[r.subIndication] : { vi: '', en: '' });
    vi.push(`Chữ ký không hợp lệ: ${why.vi}.`);
    en.push(`The signature is NOT valid: ${why.en}.`);
  } else {
    const why = reason ?? (r.subIndication ? REASON[r.subIndication] : { vi: '', en: '' });
    vi.push(`Chưa xác định được tính hợp lệ của chữ ký: ${why.vi}.`);
    en.push(`The signature’s validity could not be established: ${why.en}.`);
  }
  if (r.signer) {
    const s = r.signer;
    const org = s.organisation ? ` — ${s.organisation}` : '';
    vi.push(`Người ký: ${s.commonName ?? s.subject}${org}.`);
    en.push(`Signer: ${s.commonName ?? s.subject}${org}.`);
    const ids = s.identifiers.map((i) => `${i.type} ${i.value}`).join(', ');
    if (ids) {
      vi.push(`Mã định danh: ${ids}.`);
      en.push(`Identifiers: ${ids}.`);
    }
    vi.push(`Tổ chức cấp chứng thư số: ${s.issuer}.`);
    en.push(`Certificate issued by: ${s.issuer}.`);
    vi.push(`Thời hạn chứng thư số: từ ${viTime(s.notBefore)} đến ${viTime(s.notAfter)}.`);
    en.push(`Certificate valid from ${enTime(s.notBefore)} to ${enTime(s.notAfter)}.`);
  }
  if (r.signingTime) {
    if (r.timeSource === 'timestamp') {
      vi.push(`Thời điểm ký: ${viTime(r.signingTime)}, được xác nhận bằng dấu thời gian.`);
      en.push(`Signed at ${enTime(r.signingTime)}, proven by a timestamp.`);
    } else {
      vi.push(`Thời điểm ký do người ký khai báo (không có dấu thời gian): ${viTime(r.signingTime)}.`);
      en.push(`Signing time as claimed by the signer (no timestamp): ${enTime(r.signingTime)}.`);
    }
  }
  if (r.integrity && r.modifiedAfterSigning !== 'disallowed') {
    vi.push(r.modifiedAfterSigning === 'none' ? 'Tài liệu còn nguyên vẹn, không bị thay đổi sau khi ký.' : 'Tài liệu còn nguyên vẹn; sau khi ký chỉ có các bổ sung được phép (chữ ký, dấu thời gian, dữ liệu kiểm tra).');
    en.push(r.modifiedAfterSigning === 'none' ? 'The document is intact: unchanged since signing.' : 'The document is intact; only permitted additions (signatures, timestamps, validation data) follow the signature.');
  } else if (r.modifiedAfterSigning === 'disallowed') {
    vi.push('Tài liệu đã bị thay đổi sau khi ký.');
    en.push('The document was changed after signing.');
  } else {
    vi.push('Nội dung tài liệu không khớp với chữ ký.');
    en.push('The document content does not match the signature.');
  }
  if (r.signer && r.signingTime && r.certificateChain.length) {
    const t = new Date(r.signingTime).getTime();
    const inside = t >= Date.parse(r.signer.notBefore) && t <= Date.parse(r.signer.notAfter);
    vi.push(inside ? 'Chứng thư số còn hiệu lực tại thời điểm ký.' : 'Chứng thư số KHÔNG còn hiệu lực tại thời điểm ký.');
    en.push(inside ? 'The certificate was within its validity period at the signing time.' : 'The certificate was NOT within its validity period at the signing time.');
  }
  const rv = r.revocation;
  if (rv.status === 'good') {
    vi.push(`Chứng thư số không bị thu hồi (nguồn: ${sourceVi(rv.source)}).`);
    en.push(`The certificate is not revoked (source: ${rv.source}).`);
  } else if (rv.status === 'revoked' || rv.status === 'suspended') {
    const when = rv.revokedAt ? ` ${viTime(rv.revokedAt)}` : '';
    vi.push(`Chứng thư số đã bị ${rv.status === 'revoked' ? 'thu hồi' : 'tạm dừng'} lúc${when}.`);
    en.push(`The certificate was ${rv.status}${rv.revokedAt ? ` at ${enTime(rv.revokedAt)}` : ''}.`);
  }
  if (r.level !== 'none') {
    vi.push(`Định dạng chữ ký: PAdES ${r.level}.`);
    en.push(`Signature format: PAdES ${r.level}.`);
  }
  vi.push(...notes.vi);
  en.push(...notes.en);
  return { vi, en };
}

/**
 * The warning on an earlier signature (or document timestamp) when a later signature field
 * shows an appearance over its page's text or images, over the widget of a field it
 * covered (a signature's visible appearance, or a form field's value) or over another
 * annotation it showed (a stamp, a note), or has an appearance that optional content off by
 * default hides until someone switches it on, or that its flags hide on screen but print or
 * show at a touch (see signature-overlay.ts).
 */
export function overlayWarningMessages(w: OverlayWarning, holder: 'signature' | 'document-timestamp'): Reason {
  const what = w.kind === 'document-timestamp' ? { vi: 'Trường dấu thời gian tài liệu', en: 'Document timestamp field' } : { vi: 'Trường chữ ký', en: 'Signature field' };
  const how = w.how === 'added' ? { vi: 'được thêm vào', en: 'added' } : { vi: 'được ký', en: 'signed' };
  const rev = w.revision ? { vi: ` ở lần cập nhật thứ ${w.revision} của tệp`, en: ` in revision ${w.revision} of the file` } : { vi: ' sau đó', en: ' later' };
  const mine = holder === 'signature' ? { vi: 'chữ ký này', en: 'this signature' } : { vi: 'dấu thời gian này', en: 'this timestamp' };
  if (w.over === 'optional-content') {
    const state =
      w.layer === 'off'
        ? { vi: 'đang tắt theo mặc định', en: 'that is off by default' }
        : { vi: 'mà trạng thái mặc định không được tài liệu xác định rõ (mỗi trình xem có thể hiển thị khác nhau)', en: 'whose default state the document does not settle (viewers may differ)' };
    return {
      vi: `Cảnh báo: ${what.vi} “${w.field}” ${how.vi}${rev.vi} có hình hiển thị trên trang ${w.page} phụ thuộc vào nội dung tùy chọn (lớp, “optional content”) ${state.vi}; trình xem, người dùng, một đoạn mã hoặc khi in có thể bật lớp đó để hiện nội dung khác lên trang (tấn công “sneaky signature”) — hãy đối chiếu trang ${w.page} với bản đã ký.`,
      en: `Warning: ${what.en.toLowerCase()} “${w.field}”, ${how.en}${rev.en}, has an appearance on page ${w.page} whose visibility depends on optional content (a layer) ${state.en}; a viewer, its user, a script or printing can switch it on and show something else on the page (a “sneaky signature”) — compare page ${w.page} with the signed revision.`,
    };
  }
  if (w.over === 'off-screen') {
    const print = { vi: 'vẫn được in ra', en: 'printed' };
    const touch = { vi: 'hiện ra khi di chuột qua hoặc khi được chọn', en: 'shown when the pointer is over it or it is selected' };
    const state = w.printed && w.toggled ? { vi: `${print.vi}, và ${touch.vi}`, en: `${print.en}, and ${touch.en}` } : w.printed ? print : touch;
    const differs = w.printed
      ? { vi: 'bản in có thể khác với những gì đã kiểm tra trên màn hình', en: 'a printed copy can differ from what was checked on screen' }
      : { vi: 'trang có thể hiện nội dung khác với những gì đã kiểm tra trên màn hình', en: 'the page can show something other than what was checked on screen' };
    const compare = w.printed ? { vi: `bản in trang ${w.page}`, en: `a printout of page ${w.page}` } : { vi: `trang ${w.page}`, en: `page ${w.page}` };
    return {
      vi: `Cảnh báo: ${what.vi} “${w.field}” ${how.vi}${rev.vi} có hình hiển thị trên trang ${w.page} bị ẩn trên màn hình nhưng ${state.vi}; ${differs.vi} (tấn công “sneaky signature”) — hãy đối chiếu ${compare.vi} với bản đã ký.`,
      en: `Warning: ${what.en.toLowerCase()} “${w.field}”, ${how.en}${rev.en}, has an appearance on page ${w.page} that is hidden on screen but ${state.en}; ${differs.en} (a “sneaky signature”) — compare ${compare.en} with the signed revision.`,
    };
  }
  if (w.over === 'field' || w.over === 'annotation') {
    const under = coveredWords(w);
    return {
      vi: `Cảnh báo: ${what.vi} “${w.field}” ${how.vi}${rev.vi} có hình hiển thị vẽ đè lên ${under.vi} trên trang ${w.page}, đã có khi ${mine.vi} được tạo; hình đó có thể che ${under.it.vi} hoặc hiển thị nội dung giả thay cho nó (tấn công “sneaky signature”) — hãy đối chiếu trang ${w.page} với bản đã ký.`,
      en: `Warning: ${what.en.toLowerCase()} “${w.field}”, ${how.en}${rev.en}, shows an appearance drawn over ${under.en} on page ${w.page}, there when ${mine.en} was made; it can hide ${under.it.en} or show something else in its place (a “sneaky signature”) — compare page ${w.page} with the signed revision.`,
    };
  }
  return {
    vi: `Cảnh báo: ${what.vi} “${w.field}” ${how.vi}${rev.vi} có hình hiển thị vẽ đè lên chữ hoặc hình ảnh của trang ${w.page} đã có khi ${mine.vi} được tạo; hình đó có thể che hoặc thay nội dung đã ký (tấn công “sneaky signature”) — hãy đối chiếu trang ${w.page} với bản đã ký.`,
    en: `Warning: ${what.en.toLowerCase()} “${w.field}”, ${how.en}${rev.en}, shows an appearance drawn over text or images that page ${w.page} had when ${mine.en} was made; it can hide or replace signed content (a “sneaky signature”) — compare page ${w.page} with the signed revision.`,
  };
}

/**
 * The warning that closes a list the analysis cut short (signature-overlay.ts stops after a
 * few dozen overlays or a few hundred later widgets): a file like that is hostile or broken,
 * and the listed overlays are not all there is.
 */
export function overlaysNotAllListed(listed: number, holder: 'signature' | 'document-timestamp'): Reason {
  const mine = holder === 'signature' ? { vi: 'chữ ký này', en: 'this signature' } : { vi: 'dấu thời gian này', en: 'this timestamp' };
  const which = listed > 0 ? { vi: ` ngoài ${listed} trường đã nêu`, en: ` beyond the ${listed} listed` } : { vi: '', en: '' };
  return {
    vi: `Cảnh báo: các lần cập nhật sau khi ${mine.vi} được tạo thêm quá nhiều trường chữ ký hoặc hình hiển thị vẽ đè lên nội dung đã ký để kiểm tra hết${which.vi}; tệp có thể đã bị sửa để che hoặc thay nội dung đã ký (tấn công “sneaky signature”) — hãy đối chiếu từng trang với bản đã ký.`,
    en: `Warning: the revisions after ${mine.en} add more signature fields, or more appearances drawn over signed content, than are examined${which.en}; the file may have been made to hide or replace signed content (a “sneaky signature”) — compare every page with the signed revision.`,
  };
}

/** What a later appearance lies over: a signature, a form field's value, or another annotation named by subtype, /NM and /Contents. */
function coveredWords(w: Extract<OverlayWarning, { over: 'field' | 'annotation' }>): Reason & { it: Reason } {
  if (w.over === 'annotation') {
    const c = w.covered;
    const nm = c.name ? ` “${c.name}”` : '';
    const text = c.contents ? { vi: ` có nội dung “${c.contents}”`, en: ` reading “${c.contents}”` } : { vi: '', en: '' };
    return { vi: `chú thích (annotation) loại ${c.subtype}${nm}${text.vi}`, en: `the ${c.subtype} annotation${nm}${text.en}`, it: { vi: 'chú thích đó', en: 'that annotation' } };
  }
  const c = w.covered;
  return c.kind === 'signature'
    ? { vi: `hình hiển thị của chữ ký “${c.field}”`, en: `the visible appearance of signature “${c.field}”`, it: { vi: 'chữ ký đó', en: 'that signature' } }
    : { vi: `trường biểu mẫu “${c.field}” đang có giá trị`, en: `form field “${c.field}”, which holds a value`, it: { vi: 'giá trị đó', en: 'that value' } };
}

function sourceVi(s: string): string {
  return (
    { dss: 'dữ liệu kiểm tra trong tệp (DSS)', cms: 'dữ liệu trong chữ ký', 'adobe-archival': 'dữ liệu trong chữ ký (Adobe)', store: 'cơ sở dữ liệu của hệ thống', online: 'tra cứu trực tuyến', none: 'không có' } as Record<string, string>
  )[s] ?? s;
}

/**
 * `structureBroken`: the field's /ByteRange or /Contents do not hold together (checkStructure),
 * which is the shape of a wrapping attack rather than of a damaged token, so it reads as a
 * signature's broken structure does ("possibly forged").
 */
export function documentTimestampMessages(r: DocumentTimestampReport, structureBroken = false): Messages {
  if (r.indication === 'TOTAL_PASSED') {
    return {
      vi: [`Dấu thời gian tài liệu hợp lệ (${r.tsa ?? 'không rõ đơn vị'}, ${r.time ? viTime(r.time) : ''}).`],
      en: [`The document timestamp is valid (${r.tsa ?? 'unknown TSA'}, ${r.time ? enTime(r.time) : ''}).`],
    };
  }
  // A document timestamp fails on its token (FORMAT_FAILURE, HASH_FAILURE, SIG_CRYPTO_FAILURE)
  // in the token's words: a signature's ("the signed content was altered", "the signature value
  // does not verify with the certificate") would name the wrong culprit.
  const sub = r.subIndication;
  const why = !sub ? { vi: '', en: '' } : structureBroken ? REASON[sub] : (brokenTokenReason(sub, 'document') ?? DOCUMENT_TIMESTAMP_REASON[sub] ?? REASON[sub]);
  // INDETERMINATE is not "invalid": the timestamp could not be confirmed (no trusted chain, no certificate), as for a signature.
  return r.indication === 'TOTAL_FAILED'
    ? { vi: [`Dấu thời gian tài liệu không hợp lệ: ${why.vi}.`], en: [`The document timestamp is NOT valid: ${why.en}.`] }
    : { vi: [`Chưa xác định được tính hợp lệ của dấu thời gian tài liệu: ${why.vi}.`], en: [`The document timestamp’s validity could not be established: ${why.en}.`] };
}

export function documentMessages(valid: boolean, signatureCount: number): Messages {
  if (signatureCount === 0) return { vi: ['Tài liệu không có chữ ký số.'], en: ['The document has no digital signature.'] };
  return valid
    ? { vi: [`Tài liệu có ${signatureCount} chữ ký, tất cả đều hợp lệ.`], en: [`The document has ${signatureCount} signature(s), all valid.`] }
    : { vi: ['Tài liệu KHÔNG hợp lệ: có chữ ký không hợp lệ, chưa xác định được, hoặc tài liệu đã bị thay đổi sau khi ký.'], en: ['The document is NOT valid: a signature is invalid or indeterminate, or the document was changed after signing.'] };
}
