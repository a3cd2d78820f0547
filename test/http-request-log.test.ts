import t from 'tap';
import { loggableUrl } from '../src/log.js';
import { withApp } from './helpers/app.js';
import { fixture, PIN, signingSchool, signOverHttp } from './helpers/http-signing.js';

/**
 * Request logging: one line per answered request at info (method, url, status, time, and
 * the certificate serial of a signature), none of Fastify's two default lines, nothing
 * secret; and the metrics still count every request.
 */
const lines = (log: string) =>
  log
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('one completion line per request, with the serial of a signature', async (t) => {
  await withApp(t, 'request log', async (t, a) => {
    const s = await signingSchool(a);
    const before = lines(a.logs()).length;
    const r = await signOverHttp(a, s.signer, s.teacher, fixture('wkhtmltopdf-qt.pdf'), 'B-B');
    t.equal(r.statusCode, 200, r.body.slice(0, 200));
    const bad = await a.call('WRONG-TOKEN-3f9a2c7d1e5b', { method: 'GET', url: `/v1/schools/${s.schoolId}?token=leaked-0123456789` });
    t.equal(bad.statusCode, 401);

    const logged = lines(a.logs()).slice(before);
    t.notOk(logged.some((l) => l.msg === 'incoming request' || l.msg === 'request completed'), "Fastify's own request lines are off");
    const requests = logged.filter((l) => l.msg === 'request');
    t.equal(requests.length, 2, 'one line per request');
    const [signed, refused] = requests;
    t.match(signed, { level: 30, method: 'POST', status: 200, serial: s.teacher });
    t.match(signed!.url, /^\/v1\/sign\?certificate=/);
    t.type(signed!.ms, 'number');
    t.match(refused, { method: 'GET', status: 401 });
    t.notOk('serial' in refused!, 'no serial where nothing was signed');
    t.match(refused!.problem, /^urn:hocba:problem:[a-z-]+$/, 'a refusal names its problem type on the same line');
    t.notOk('problem' in signed!, 'no problem on an answered signature');
    t.equal(logged.filter((l) => l.reqId === refused!.reqId).length, 1, 'and that is the refusal’s only line');
    t.equal(refused!.url, `/v1/schools/${s.schoolId}?token=[redacted]`, 'a secret-named query parameter is redacted');
    const all = a.logs();
    for (const secret of [PIN, s.signer, 'WRONG-TOKEN-3f9a2c7d1e5b', 'leaked-0123456789']) t.notOk(all.includes(secret), `no ${secret.slice(0, 6)}… in the log`);

    const metrics = (await a.app.inject({ url: '/metrics' })).body;
    t.match(metrics, /^hocba_http_requests_total\{method="POST",route="\/v1\/sign",status="200"\} 1$/m);
    t.match(metrics, /^hocba_http_request_duration_seconds_count\{method="POST",route="\/v1\/sign"\} 1$/m);
    t.match(metrics, /^hocba_http_request_duration_seconds_bucket\{method="POST",route="\/v1\/sign",le="\+Inf"\} 1$/m);
  });
});

t.test('at warn, no request lines at all', async (t) => {
  await withApp(
    t,
    'request log warn',
    async (t, a) => {
      const school = await a.createSchool();
      const r = await a.call(a.adminToken, { method: 'GET', url: `/v1/schools/${school}` });
      t.equal(r.statusCode, 200);
      t.equal(lines(a.logs()).filter((l) => l.msg === 'request').length, 0);
    },
    { config: { logLevel: 'warn' } },
  );
});

t.test('loggableUrl', async (t) => {
  t.equal(loggableUrl('/v1/sign?certificate=ab&level=B-B'), '/v1/sign?certificate=ab&level=B-B');
  t.equal(loggableUrl('/v1/x?PIN=123456&a=1&token=abc#f'), '/v1/x?PIN=[redacted]&a=1&token=[redacted]#f');
  t.equal(loggableUrl('/v1/x'), '/v1/x');
});
