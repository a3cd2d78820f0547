import t from 'tap';
import { HTTP_METHODS, loadOpenApi, routeSchema } from '../src/http/openapi.js';
import { withApp } from './helpers/app.js';

/**
 * openapi.yaml and the server agree: every registered route is a spec operation and every
 * spec operation is registered (method + path). The UI's own asset routes under /docs/ are
 * the only exception.
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

t.test('the spec is OpenAPI 3.1 and every operation has an operationId and responses', async (t) => {
  const spec = loadOpenApi();
  t.equal(spec.doc.openapi, '3.1.0');
  for (const [p, item] of Object.entries(spec.doc.paths as Record<string, Record<string, { operationId?: string; responses?: object }>>)) {
    for (const m of HTTP_METHODS) {
      const op = item[m];
      if (!op) continue;
      t.ok(op.operationId, `${m} ${p} has an operationId`);
      t.ok(op.responses && Object.keys(op.responses).length > 0, `${m} ${p} documents its responses`);
    }
  }
});

