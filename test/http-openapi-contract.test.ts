import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import Fastify from 'fastify';
import t from 'tap';
import { operation } from '../src/http/context.js';
import { documentedResponses, HTTP_METHODS, loadOpenApi, routeSchema } from '../src/http/openapi.js';
import { CHANGE_KINDS } from '../src/validation/index.js';
import { withApp } from './helpers/app.js';
import { watchResponses } from './helpers/response-contract.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * openapi.yaml and the server agree: every registered route is a spec operation and every
 * spec operation is registered (method + path); the UI's own asset routes under /docs/ are
 * the only exception. What each answer looks like is held to the spec in every HTTP test
 * (helpers/response-contract.ts, installed by withApp).
 */
t.test('every route is in openapi.yaml and every operation is served', async (t) => {
  const spec = loadOpenApi();
  const expected = new Set([...spec.operations.keys()].map((id) => {
    const { method, url } = routeSchema(spec, id);
    return `${method} ${url}`;
  }));
  t.ok(expected.size > 20, 'the spec has the operations');

  await withApp(t, 'contract', async (t, a) => {
    const registered = new Set(a.app.registeredRoutes);
    const served = [...registered].filter((r) => !/^(GET|HEAD) \/docs\/./.test(r) && !r.startsWith('HEAD '));
    for (const r of served) t.ok(expected.has(r), `registered route ${r} is in openapi.yaml`);
    for (const e of expected) t.ok(registered.has(e), `spec operation ${e} is registered`);
  });
});

t.test('every operation is documented: summary, description, responses, errors as problems', async (t) => {
  const spec = loadOpenApi();
  t.equal(spec.doc.openapi, '3.1.0');
  for (const [p, item] of Object.entries(spec.doc.paths as Record<string, Record<string, { operationId?: string; summary?: string; description?: string }>>)) {
    for (const m of HTTP_METHODS) {
      const op = item[m];
      if (!op) continue;
      const name = `${m.toUpperCase()} ${p}`;
      t.ok(op.operationId, `${name} has an operationId`);
      t.ok(op.summary && op.description, `${name} has a summary and a description`);
      const responses = documentedResponses(spec, op.operationId!);
      t.ok(Object.keys(responses).some((c) => /^2\d\d$/.test(c)), `${name} documents a success`);
      t.ok(responses['400'] && responses.default, `${name} documents 400 (unknown parameters are refused) and the unexpected 500`);
      for (const [code, media] of Object.entries(responses)) {
        if (!/^[45]\d\d$/.test(code) && code !== 'default') continue;
        t.same(Object.keys(media), ['application/problem+json'], `${name} ${code} is a problem`);
        const schema = media['application/problem+json'] as { required?: string[] } | undefined;
        t.same(schema?.required, ['type', 'title', 'status'], `${name} ${code} uses the Problem schema`);
      }
    }
  }
});

t.test("the report's change kinds are the ones openapi.yaml names", async (t) => {
  const spec = loadOpenApi();
  const change = (spec.doc.components as { schemas: Record<string, { properties: { kind: { enum: string[] } } }> }).schemas.ChangeReport;
  t.same([...change.properties.kind.enum].sort(), [...CHANGE_KINDS].sort());
});


t.test('the response guard withApp installs catches an answer that drifted from the spec', async (t) => {
  const spec = loadOpenApi();
  const app = Fastify();
  const contract = watchResponses(app, spec);
  // No auth hook here: only the answers matter.
  operation(app, spec, 'verifyAudit', ['admin'], async () => ({ ok: 'yes', checked: 3, firstBadSeq: null, problem: null }));
  operation(app, spec, 'healthz', 'public', async (_req, reply) => reply.code(418).send({ status: 'teapot' }));
  operation(app, spec, 'getRootCrl', 'public', async (_req, reply) => reply.type('text/plain').send('not a CRL'));
  operation(app, spec, 'readyz', 'public', async () => ({ status: 'ready' }));
  t.teardown(() => app.close());
  for (const url of ['/v1/audit/verify', '/healthz', '/crl/root.crl', '/readyz']) await app.inject({ method: 'GET', url });
  const [audit, teapot, crl, ...rest] = contract.violations;
  // Fastify's serialiser would quietly turn "yes" into true: the guard sees the handler's value.
  t.match(audit, /^verifyAudit 200 application\/json: response\/ok must be boolean/, 'a value of the wrong type is caught');
  t.match(teapot, /^healthz answered 418, which openapi\.yaml does not document/, 'an undocumented status is caught');
  t.match(crl, /^getRootCrl 200 answered text\/plain; openapi\.yaml documents application\/pkix-crl/, 'a wrong media type is caught');
  t.same(rest, [], 'a conforming answer passes');
});

t.test('every example in openapi.yaml matches its schema', async (t) => {
  const spec = loadOpenApi();
  const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
  let examples = 0;
  for (const id of spec.operations.keys()) {
    const op = spec.operations.get(id)!.op as { responses?: Record<string, unknown> };
    for (const [code, media] of Object.entries(documentedResponses(spec, id))) {
      for (const [type, schema] of Object.entries(media)) {
        const example = exampleOf(spec.doc, op.responses?.[code], type);
        if (example === undefined || !schema) continue;
        examples++;
        const validate = ajv.compile(schema as object);
        t.ok(validate(example), `${id} ${code} ${type}: ${ajv.errorsText(validate.errors)}`);
      }
    }
  }
  t.ok(examples >= 2, `${examples} examples checked`);
});

/** The `example` of a response's media type, following a `$ref` to components/responses. */
function exampleOf(doc: Record<string, unknown>, response: unknown, type: string): unknown {
  let r = response as { $ref?: string; content?: Record<string, { example?: unknown }> } | undefined;
  if (r?.$ref) r = (doc.components as { responses: Record<string, typeof r> }).responses[r.$ref.split('/').pop()!];
  return r?.content?.[type]?.example;
}
