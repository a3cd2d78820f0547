import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * openapi.yaml is the contract, not documentation written after the fact: routes take their
 * request (and JSON response) schemas from it by operationId, so the server cannot drift
 * from what it publishes.
 */
export const SPEC_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../openapi.yaml');

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

type Json = Record<string, unknown>;

export interface OpenApiSpec {
  text: string;
  doc: Json;
  operations: Map<string, { method: string; path: string; op: Json }>;
}

export function loadOpenApi(file = SPEC_PATH): OpenApiSpec {
  const text = readFileSync(file, 'utf8');
  const doc = parse(text) as Json;
  const operations = new Map<string, { method: string; path: string; op: Json }>();
  for (const [p, item] of Object.entries((doc.paths ?? {}) as Record<string, Json>)) {
    for (const m of HTTP_METHODS) {
      const op = item[m] as Json | undefined;
      if (!op) continue;
      const id = op.operationId as string | undefined;
      if (!id) throw new Error(`openapi.yaml: ${m.toUpperCase()} ${p} has no operationId`);
      if (operations.has(id)) throw new Error(`openapi.yaml: operationId ${id} is used twice`);
      operations.set(id, { method: m.toUpperCase(), path: p, op });
    }
  }
  return { text, doc, operations };
}

/** `/v1/certificates/{serial}` → `/v1/certificates/:serial` */
export function toFastifyPath(p: string): string {
  return p.replace(/\{([^}]+)\}/g, ':$1');
}

/** Resolves local `$ref`s by inlining and drops OpenAPI-only keywords, giving plain JSON Schema for Ajv. */
function toJsonSchema(doc: Json, s: unknown, depth = 0): unknown {
  if (depth > 32) throw new Error('openapi.yaml: $ref nesting too deep');
  if (Array.isArray(s)) return s.map((x) => toJsonSchema(doc, x, depth + 1));
  if (s === null || typeof s !== 'object') return s;
  const o = s as Json;
  if (typeof o.$ref === 'string') return toJsonSchema(doc, resolveRef(doc, o.$ref), depth + 1);
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'example' || k === 'examples' || k === 'xml' || k === 'externalDocs' || k === 'discriminator') continue;
    // `properties` maps names to schemas: recurse into values, keep the names.
    if (k === 'properties' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, toJsonSchema(doc, pv, depth + 1)]));
    } else {
      out[k] = toJsonSchema(doc, v, depth + 1);
    }
  }
  return out;
}

function resolveRef(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) throw new Error(`openapi.yaml: only local $ref supported (${ref})`);
  let cur: unknown = doc;
  for (const part of ref.slice(2).split('/')) {
    cur = (cur as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (cur === undefined) throw new Error(`openapi.yaml: unresolved $ref ${ref}`);
  }
  return cur;
}

/** The media types an operation's request body may have (empty when it takes no body). */
export function requestMediaTypes(spec: OpenApiSpec, operationId: string): string[] {
  const op = spec.operations.get(operationId)?.op;
  const rb = op?.requestBody ? (toJsonSchema(spec.doc, op.requestBody) as Json) : undefined;
  return Object.keys((rb?.content as Json | undefined) ?? {});
}

/**
 * Every documented response of an operation: status code → media type → its JSON Schema
 * (undefined for binary and text bodies). Tests hold the server's answers to this.
 */
export function documentedResponses(spec: OpenApiSpec, operationId: string): Record<string, Record<string, unknown>> {
  const op = spec.operations.get(operationId)?.op;
  if (!op) throw new Error(`openapi.yaml has no operation ${operationId}`);
  const out: Record<string, Record<string, unknown>> = {};
  for (const [code, r] of Object.entries((op.responses ?? {}) as Json)) {
    const content = ((toJsonSchema(spec.doc, r) as Json).content ?? {}) as Record<string, Json>;
    out[code] = Object.fromEntries(Object.entries(content).map(([type, media]) => [type, media?.schema]));
  }
  return out;
}

export interface RouteSchema {
  operationId: string;
  body?: unknown;
  querystring?: unknown;
  params?: unknown;
  headers?: unknown;
  response?: Record<string, unknown>;
}

/**
 * The Fastify schema of one operation. Only a JSON request body is schema-validated here;
 * binary bodies (PDF, DER, CSV) are checked by their content-type parser and handler.
 */
export function routeSchema(spec: OpenApiSpec, operationId: string): { method: string; url: string; schema: RouteSchema } {
  const entry = spec.operations.get(operationId);
  if (!entry) throw new Error(`openapi.yaml has no operation ${operationId}`);
  const { doc } = spec;
  const op = entry.op;
  const schema: RouteSchema = { operationId };
  const groups: Record<'query' | 'path' | 'header', { properties: Json; required: string[] }> = {
    query: { properties: {}, required: [] },
    path: { properties: {}, required: [] },
    header: { properties: {}, required: [] },
  };
  for (const raw of (op.parameters ?? []) as unknown[]) {
    const p = toJsonSchema(doc, raw) as Json;
    const where = p.in as keyof typeof groups;
    if (!groups[where]) continue;
    const name = where === 'header' ? (p.name as string).toLowerCase() : (p.name as string);
    groups[where].properties[name] = p.schema ?? {};
    if (p.required) groups[where].required.push(name);
  }
  if (Object.keys(groups.query.properties).length) {
    schema.querystring = { type: 'object', additionalProperties: false, ...groups.query };
  } else {
    schema.querystring = { type: 'object', additionalProperties: false, properties: {} };
  }
  // A catch-all route (`x-fastify-path: /ocsp/*`) takes the rest of the path, slashes included; its handler decodes it.
  const fastifyPath = op['x-fastify-path'] as string | undefined;
  if (Object.keys(groups.path.properties).length && !fastifyPath) schema.params = { type: 'object', ...groups.path };
  // Other headers are always allowed: only the named ones are checked.
  if (Object.keys(groups.header.properties).length) schema.headers = { type: 'object', ...groups.header };

  const rb = op.requestBody ? (toJsonSchema(doc, op.requestBody) as Json) : undefined;
  const jsonBody = (rb?.content as Json | undefined)?.['application/json'] as Json | undefined;
  if (jsonBody?.schema) schema.body = jsonBody.schema;

  const response: Record<string, unknown> = {};
  for (const [code, r] of Object.entries((op.responses ?? {}) as Json)) {
    if (!/^2\d\d$/.test(code)) continue;
    const json = ((toJsonSchema(doc, r) as Json).content as Json | undefined)?.['application/json'] as Json | undefined;
    if (json?.schema) response[code] = json.schema;
  }
  if (Object.keys(response).length) schema.response = response;
  return { method: entry.method, url: fastifyPath ?? toFastifyPath(entry.path), schema };
}
