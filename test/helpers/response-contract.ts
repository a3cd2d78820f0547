import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { documentedResponses, loadOpenApi, type OpenApiSpec } from '../../src/http/openapi.js';

/**
 * Holds every answer of a test app to openapi.yaml: its status is documented for the
 * operation, its media type is one documented for that status, and a JSON body matches the
 * documented schema. JSON is checked before serialisation on purpose: Fastify serialises
 * through the response schema and silently drops fields the spec does not name, so a report
 * that outgrew its schema would otherwise lose data without any test noticing.
 *
 * Installed by withApp; the violations are asserted empty when the test's body ends.
 */
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export interface ResponseContract {
  violations: string[];
}

export function watchResponses(app: FastifyInstance, spec: OpenApiSpec = loadOpenApi()): ResponseContract {
  const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
  const validators = new Map<object, ValidateFunction>();
  const validatorFor = (schema: object) => {
    let v = validators.get(schema);
    if (!v) validators.set(schema, (v = ajv.compile(schema)));
    return v;
  };
  const documented = new Map<string, Record<string, Record<string, unknown>>>();
  const responsesOf = (operationId: string) => {
    let r = documented.get(operationId);
    if (!r) documented.set(operationId, (r = documentedResponses(spec, operationId)));
    return r;
  };
  /** The responses documented for this status; an unexpected 5xx is the operation's `default`. */
  const documentedFor = (operationId: string, status: number) => {
    const r = responsesOf(operationId);
    return r[String(status)] ?? (status >= 500 ? r.default : undefined);
  };
  const operationOf = (req: { routeOptions: { schema?: unknown } }) => (req.routeOptions.schema as { operationId?: string } | undefined)?.operationId;
  const mediaType = (h: unknown) => String(h ?? '').split(';')[0]!.trim().toLowerCase();
  const contract: ResponseContract = { violations: [] };

  app.addHook('preSerialization', async (req, reply, payload) => {
    const id = operationOf(req);
    if (!id) return payload;
    const media = documentedFor(id, reply.statusCode);
    const type = mediaType(reply.getHeader('content-type')) || 'application/json';
    const schema = media?.[type];
    if (schema && typeof schema === 'object') {
      const validate = validatorFor(schema);
      if (!validate(payload)) {
        contract.violations.push(`${id} ${reply.statusCode} ${type}: ${ajv.errorsText(validate.errors, { dataVar: 'response' })}`);
      }
    }
    return payload;
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const id = operationOf(req);
    // /docs is the UI plugin's; its files are not operations of ours.
    if (!id || req.url.startsWith('/docs')) return payload;
    const media = documentedFor(id, reply.statusCode);
    if (!media) {
      contract.violations.push(`${id} answered ${reply.statusCode}, which openapi.yaml does not document for it`);
      return payload;
    }
    const type = mediaType(reply.getHeader('content-type'));
    const types = Object.keys(media);
    if (types.length && type && !types.includes(type)) {
      contract.violations.push(`${id} ${reply.statusCode} answered ${type}; openapi.yaml documents ${types.join(', ')}`);
    }
    return payload;
  });
  return contract;
}
