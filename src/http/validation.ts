import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

/**
 * Request validation against openapi.yaml's schemas. Two Ajv instances because the parts of
 * a request differ: query strings, path parameters and headers arrive as text and are
 * coerced to the declared types, while a JSON body must already have the right types and
 * must not carry unknown fields (Fastify's default would coerce "12" into 12 and silently
 * strip unknown fields, hiding a client's mistake).
 */
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const common: Options = { allErrors: false, strict: false, useDefaults: true, removeAdditional: false };

export function installValidators(app: FastifyInstance): void {
  const strictBody = addFormats(new Ajv({ ...common, coerceTypes: false }));
  const coercing = addFormats(new Ajv({ ...common, coerceTypes: 'array' }));
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strictBody : coercing;
    return ajv.compile(schema) as (data: unknown) => boolean;
  });
}
