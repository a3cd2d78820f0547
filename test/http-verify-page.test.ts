import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { chromium, type Browser, type Page } from 'playwright-core';
import { withApp, type TestApp } from './helpers/app.js';
import { fixture, flipSignedByte, pkiSigning } from './helpers/tamper.js';
import type { TestIdentity } from './helpers/pki.js';
import { needTool } from './helpers/tools.js';

/**
 * The verification page for people, in the real app: served with a strict same-origin CSP,
 * then driven in Debian's Chromium — a record signed with the app's own CA shows green with
 * the signer's name, a tampered copy red, a broken file an error in plain words, in
 * Vietnamese first and English after the switch.
 */

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * A signature by a teacher certificate of the app's CA (by default B-LT: the timestamp and an
 * OCSP "good" are embedded, so the verdict needs nothing online).
 */
function signAsTeacher(a: TestApp, pdf: Buffer, o: { level?: 'B-B' | 'B-LT'; who?: TestIdentity; signingTime?: Date } = {}): Promise<Buffer> {
  return pkiSigning(a.pki).sign(pdf, o.who ?? a.pki.teacher, o.level ?? 'B-LT', undefined, o.signingTime);
}

/** An attribute of a certificate's subject as OpenSSL (Node) prints it — not our parser. */
function subjectAttribute(der: Buffer, name: string): string {
  const line = new X509Certificate(der).subject.split('\n').find((l) => l.startsWith(`${name}=`));
  if (!line) throw new Error(`no ${name} in the certificate subject`);
  return line.slice(name.length + 1);
}

/** "HH:MM" and "DD/MM/YYYY" of an instant in Vietnam (UTC+7, no daylight saving), by arithmetic. */
function vietnamClock(iso: string): { time: string; date: string } {
  const d = new Date(Date.parse(iso) + 7 * 3600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return { time: `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`, date: `${p(d.getUTCDate())}/${p(d.getUTCMonth() + 1)}/${d.getUTCFullYear()}` };
}

/**
 * WCAG 2 contrast of every visible text element under `selector` against the first opaque
 * background behind it; returns the failures (ratio < 4.5) as "text: ratio".
 */
const LOW_CONTRAST = `((selector) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }).reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.offsetParent || ![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) out.push(el.textContent.trim().slice(0, 40) + ': ' + ratio.toFixed(2));
  }
  return out;
})`;

t.test('GET /verify: the page and its files, same-origin only', async (t) => {
  await withApp(t, 'verify page', async (t, a) => {
    const page = await a.app.inject({ method: 'GET', url: '/verify' });
    t.equal(page.statusCode, 200);
    t.match(page.headers['content-type'], /^text\/html; charset=utf-8/);
    const csp = String(page.headers['content-security-policy']);
    t.match(csp, /(^|; )default-src 'self'(;|$)/, 'CSP: default-src self');
    t.match(csp, /script-src 'self'(;|$)/, 'no inline or remote script allowed');
    t.notMatch(csp, /unsafe-inline|unsafe-eval|https?:/, 'nothing looser than the origin');
    t.match(csp, /frame-ancestors 'none'/, 'a verdict cannot be framed by another site');
    t.equal(page.headers['x-content-type-options'], 'nosniff');

    const html = page.body;
    t.match(html, /<html lang="vi">/, 'Vietnamese by default');
    t.notMatch(html, /\son[a-z]+\s*=/i, 'no inline event handlers');
    t.notMatch(html, /\sstyle\s*=/i, 'no inline styles');
    t.notMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, 'no inline script');
    t.notMatch(html, /(src|href)="(https?:)?\/\//i, 'no external resources');
    t.match(html, /<label for="file"/, 'the file input has a label');

    // Every file the page and its modules refer to is served, with its type and the same CSP.
    const refs = [...html.matchAll(/(?:src|href)="\/verify\/([^"]+)"/g)].map((m) => m[1]);
    const seen = new Set<string>();
    while (refs.length) {
      const name = refs.shift()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const r = await a.app.inject({ method: 'GET', url: `/verify/${name}` });
      t.equal(r.statusCode, 200, `/verify/${name} is served`);
      t.match(r.headers['content-type'], name.endsWith('.css') ? /^text\/css/ : /^text\/javascript/, `${name} has its media type`);
      t.equal(r.headers['content-security-policy'], csp);
      for (const m of r.body.matchAll(/from '\.\/([^']+)'/g)) refs.push(m[1]);
      t.notMatch(r.body, /https?:\/\/(?!www\.w3\.org)/, `${name} loads nothing from elsewhere`);
    }
    t.ok(seen.has('verify.js') && seen.has('verify.css') && seen.has('i18n.js') && seen.has('render.js'), `all page files reached: ${[...seen].join(', ')}`);

    const missing = await a.app.inject({ method: 'GET', url: '/verify/..%2Fapp.js' });
    t.equal(missing.statusCode, 404, 'nothing else is served from there');
    t.match(missing.headers['content-type'], /application\/problem\+json/);
    t.equal((await a.app.inject({ method: 'GET', url: '/verify/index.html' })).statusCode, 404, 'the page has one address');
    t.equal((await a.app.inject({ method: 'GET', url: '/verify?lang=en' })).statusCode, 200, '?lang=en is accepted');
    t.equal((await a.app.inject({ method: 'GET', url: '/verify?lang=fr' })).statusCode, 400, 'unknown languages are refused');
    t.equal((await a.app.inject({ method: 'GET', url: '/verify?fbclid=IwAR0x&utm_source=zalo' })).statusCode, 200, 'a link with tracking parameters still opens the page');
    t.equal((await a.app.inject({ method: 'GET', url: '/v1/verify-nothing?fbclid=1' })).statusCode, 404);
    const other = await a.app.inject({ method: 'GET', url: '/healthz?fbclid=1' });
    t.equal(other.statusCode, 400, "other routes keep refusing unknown parameters (the page's leniency stays in its plugin)");
  });
});

t.test('the page in headless Chromium', { skip: needTool('chromium') }, async (t) => {
  await withApp(t, 'verify page in a browser', async (t, a) => {
    if (a.ctx.kind !== 'sqlite') {
      // The page reads the report; the store behind it is covered by the verifier's own tests on both stores.
      t.pass('browser run on SQLite only');
      return;
    }
    const signed = await signAsTeacher(a, fixture('wkhtmltopdf-qt.pdf'));
    const report = (await a.app.inject({ method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: signed })).json();
    t.equal(report.valid, true, `the signed fixture verifies through the API: ${JSON.stringify(report.messages)}`);
    const signingTime: string = report.signatures[0].signingTime;

    const commonName = subjectAttribute(a.pki.teacher.certificate, 'CN');
    const organisation = subjectAttribute(a.pki.teacher.certificate, 'O');
    const issuerName = subjectAttribute(a.pki.issuing.certificate, 'CN');
    t.match(commonName, /[^\x00-\x7f]/, `the teacher's name has diacritics (${commonName})`);

    await a.app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(a.app.server.address() as AddressInfo).port}`;
    const shots = mkdtempSync(join(tmpdir(), 'verify-page-shots-'));
    t.comment(`screenshots in ${shots}`);

    // launch() gives every run a fresh temporary profile.
    const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    t.teardown(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 }, locale: 'vi-VN' });
    const page: Page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

    const choose = async (name: string, buffer: Buffer) => {
      await page.locator('#result').evaluate((el) => el.setAttribute('hidden', ''));
      await page.setInputFiles('#file', { name, mimeType: 'application/pdf', buffer });
      await page.waitForSelector('#result:not([hidden]) #verdict[data-verdict]');
    };
    const text = (selector: string) => page.locator(selector).innerText();
    const field = (key: string) => text(`#signatures li:first-child dl.fields > [data-field="${key}"] dd`);

    // --- Vietnamese, a good record ---
    const res = await page.goto(`${base}/verify`);
    t.match(res?.headers()['content-security-policy'], /default-src 'self'/);
    await page.waitForSelector('body[data-ready="true"]');
    t.equal(await page.getAttribute('html', 'lang'), 'vi', 'Vietnamese by default');
    t.equal(await text('h1'), 'Kiểm tra học bạ số có chữ ký số');

    // Keyboard: the skip link, the language switch, then the file chooser.
    const focused: string[] = [];
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Tab');
      focused.push(await page.evaluate<string>("document.activeElement?.id || document.activeElement?.className || ''"));
    }
    t.same(focused, ['skip', 'lang-switch', 'file'], 'reachable with the keyboard in reading order');
    t.ok(await page.evaluate<boolean>('[...document.querySelectorAll("input")].every((i) => i.labels.length > 0)'), 'every input is labelled');

    await choose('hoc-ba-nguyen-van-an.pdf', signed);
    t.equal(await page.getAttribute('#verdict', 'data-verdict'), 'valid');
    t.equal(await text('#verdict-title'), 'Hồ sơ hợp lệ', 'green verdict in Vietnamese');
    t.equal(await page.evaluate<string>('document.activeElement?.id'), 'verdict', 'focus moves to the verdict for screen readers');
    t.equal(await page.evaluate<string>("getComputedStyle(document.getElementById('verdict')).backgroundColor"), 'rgb(229, 244, 233)', 'green background');
    t.equal(await page.locator('#signatures > li').count(), 1, 'one card for one signature');
    t.equal(await field('signer'), commonName, 'signer named with diacritics');
    t.equal(await field('organisation'), organisation);
    t.match(await field('issuer'), issuerName, 'issuer named');
    const when = vietnamClock(signingTime);
    const timeRow = await field('signingTime');
    t.match(timeRow, when.time, `signing time in Vietnam time (${when.time})`);
    t.match(timeRow, when.date);
    t.match(timeRow, /giờ Việt Nam/);
    t.match(timeRow, /dấu thời gian/, 'the time is said to come from a timestamp');
    t.match(await field('integrity'), /Nguyên vẹn/);
    t.match(await field('validityAtSigning'), /Còn hiệu lực tại thời điểm ký/);
    const notAfter = vietnamClock(a.pki.teacher.notAfter.toISOString());
    t.match(await field('certificatePeriod'), new RegExp(`^từ .+ đến .*${notAfter.date}`), 'certificate validity period');
    t.match(await field('level'), /PAdES B-LT/);
    t.match(await field('changes'), /bổ sung được phép/, 'the DSS update after signing is an allowed change');
    t.notMatch(await text('#signatures li:first-child details.messages'), /Chữ ký hợp lệ/, 'the details of a passing signature start folded');
    await page.click('#signatures li:first-child details.messages summary');
    t.match(await text('#signatures li:first-child details.messages'), /Chữ ký hợp lệ/, "the report's Vietnamese messages, unfolded");
    await page.screenshot({ path: join(shots, 'valid-vi.png'), fullPage: true });
    t.same(await page.evaluate<string[]>(`${LOW_CONTRAST}('body *')`), [], 'all text on the green result meets WCAG AA contrast (4.5:1)');

    // --- English switch: labels and messages change, the choice is remembered ---
    await page.click('#lang-switch');
    t.equal(await page.getAttribute('html', 'lang'), 'en');
    t.equal(await text('#verdict-title'), 'Valid record');
    t.equal(await text('#status'), 'Check finished.', 'the live status follows the switch');
    const labels = await page.locator('#signatures li:first-child dl.fields > .row > dt').allInnerTexts();
    for (const l of ['Signer', 'Organisation', 'Certificate issuer', 'Signing time', 'Integrity', 'Validity at signing time', 'Certificate validity period']) {
      t.ok(labels.includes(l), `English label "${l}"`);
    }
    t.match(await field('signingTime'), /from a timestamp/);
    t.match(await field('signingTime'), /Vietnam time/);
    t.equal(await field('signer'), commonName, 'names stay as written');
    await page.click('#signatures li:first-child details.messages summary');
    t.match(await text('#signatures li:first-child details.messages'), /The signature is valid/, "the report's English messages");
    t.match(page.url(), /[?&]lang=en/);
    await page.screenshot({ path: join(shots, 'valid-en.png'), fullPage: true });
    await page.goto(`${base}/verify`);
    await page.waitForSelector('body[data-ready="true"]');
    t.equal(await page.getAttribute('html', 'lang'), 'en', 'English remembered without ?lang');
    t.equal(await text('h1'), 'Check a digitally signed school record');

    // --- back to Vietnamese by ?lang=vi; a tampered copy is red ---
    await page.goto(`${base}/verify?lang=vi`);
    await page.waitForSelector('body[data-ready="true"]');
    t.equal(await page.getAttribute('html', 'lang'), 'vi');
    await choose('hoc-ba-da-sua.pdf', flipSignedByte(signed));
    t.equal(await page.getAttribute('#verdict', 'data-verdict'), 'invalid');
    t.equal(await text('#verdict-title'), 'Không hợp lệ', 'red verdict');
    t.equal(await page.evaluate<string>("getComputedStyle(document.getElementById('verdict')).backgroundColor"), 'rgb(251, 233, 233)', 'red background');
    t.match(await field('integrity'), /Đã bị sửa đổi/, 'integrity says altered');
    t.equal(await page.getAttribute('#signatures > li:first-child', 'data-indication'), 'TOTAL_FAILED');
    await page.screenshot({ path: join(shots, 'tampered-vi.png'), fullPage: true });
    t.same(await page.evaluate<string[]>(`${LOW_CONTRAST}('body *')`), [], 'all text on the red result meets WCAG AA contrast');

    // --- amber: nothing wrong found, but the certificate has expired since and no timestamp proves the signature came first ---
    const longAgo = new Date(Date.now() - 400 * 86_400_000);
    const expired = await a.pki.issueTeacher({ notBefore: longAgo, validityDays: 30 });
    await choose('hoc-ba-cu.pdf', await signAsTeacher(a, fixture('wkhtmltopdf-qt.pdf'), { level: 'B-B', who: expired, signingTime: new Date(longAgo.getTime() + 86_400_000) }));
    t.equal(await page.getAttribute('#verdict', 'data-verdict'), 'indeterminate');
    t.equal(await text('#verdict-title'), 'Chưa xác định được', 'amber verdict');
    t.equal(await page.evaluate<string>("getComputedStyle(document.getElementById('verdict')).backgroundColor"), 'rgb(255, 243, 214)', 'amber background');
    t.match(await field('validityAtSigning'), /Chưa xác định được.*hết hạn/, 'validity at signing time: unknown, and why');
    t.match(await field('signingTime'), /do người ký tự khai báo/, 'a B-B time is the signer’s claim');
    t.match(await field('integrity'), /Nguyên vẹn/, 'still intact');
    t.same(await page.evaluate<string[]>(`${LOW_CONTRAST}('body *')`), [], 'all text on the amber result meets WCAG AA contrast');
    await page.screenshot({ path: join(shots, 'indeterminate-vi.png'), fullPage: true });

    // --- refusals in plain words ---
    await choose('broken-garbage.pdf', fixture('broken-garbage.pdf'));
    t.equal(await page.getAttribute('#verdict', 'data-verdict'), 'error');
    t.equal(await text('#verdict-title'), 'Không kiểm tra được tệp');
    t.match(await text('#verdict-lead'), /Tệp bị hỏng hoặc không phải là tệp PDF hợp lệ/, 'broken file explained in plain words');
    t.equal(await page.locator('#signatures > li').count(), 0, 'no signature cards for a refused file');
    await page.screenshot({ path: join(shots, 'broken-vi.png'), fullPage: true });
    await choose('encrypted.pdf', fixture('encrypted-aes256.pdf'));
    t.match(await text('#verdict-lead'), /mật khẩu hoặc mã hóa/, 'encrypted file explained');
    // Larger than the app's body limit (1 MB in tests): the 413 arrives as plain words, not a network error.
    await choose('lop-10A1.pdf', Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(a.config.bodyLimit + 1024, 0x20)]));
    t.match(await text('#verdict-lead'), /Tệp quá lớn/, 'a too-large file explained');
    await choose('encrypted.pdf', fixture('encrypted-aes256.pdf'));
    await page.click('#lang-switch');
    t.match(await text('#verdict-lead'), /password-protected or encrypted/, 'the refusal follows the language switch');

    // --- a phone: nothing wider than the screen ---
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(`${base}/verify?lang=vi`);
    await page.waitForSelector('body[data-ready="true"]');
    // This time the file is dropped on the box, as from a file manager.
    const dataTransfer = await page.evaluateHandle(`(() => {
      const bytes = Uint8Array.from(atob('${signed.toString('base64')}'), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'hoc-ba.pdf', { type: 'application/pdf' }));
      return dt;
    })()`);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
    await page.waitForSelector('#result:not([hidden]) #verdict[data-verdict]');
    t.equal(await text('#verdict-title'), 'Hồ sơ hợp lệ', 'a dropped file is checked');
    t.match(await text('#verdict-file'), /hoc-ba\.pdf/);
    t.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'), 'no horizontal scrolling at 360 px');
    await page.screenshot({ path: join(shots, 'valid-phone-vi.png'), fullPage: true });

    t.same(problems, [], 'no script errors or CSP violations in the console');
  });
});
