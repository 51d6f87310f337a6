/**
 * JSON Schemas (draft-07, Ajv) of the HTTP API's request bodies, query strings and params:
 * the routes declare them (`schema: { body, querystring, params }`) and the typed client
 * (`client/`) checks a body with the same schema before sending it, so a bad argument fails
 * locally with the message the host would answer. Their TypeScript types are in `contract.ts`;
 * `host/test/api-schemas.test.ts` keeps the two in step.
 *
 * Messages are ajv-errors' `errorMessage`, the words the hand-written checks had. In a message,
 * `{value}` is the offending value as text (`String(v)`), `${0}` (ajv-errors) the value as JSON.
 * Checks a schema cannot say (across fields, against stored state) stay in the routes.
 */
import type { ErrorObject } from 'ajv';
import { BATCH_ID, DEAD_LETTER_STAGES, ENDPOINT_NAME } from '@modelwatch/protocol';
import { ModelwatchError } from '../errors.js';
import { DURATION_PATTERN } from '../config/duration.js';
import { ajvOnUse, compilerOnUse } from '../schema-check.js';

const ENDPOINT_NAME_MESSAGE = "endpoint name ${0} is not valid: use 1-128 letters, digits, '_' or '-', starting with a letter or digit";
const endpointName = { type: 'string', pattern: ENDPOINT_NAME.source, errorMessage: ENDPOINT_NAME_MESSAGE } as const;
const trueOrFalse = (field: string) => ({ type: 'boolean', errorMessage: `${field}: expected true or false` }) as const;
const positiveWholeNumber = (field: string) =>
  ({ type: 'integer', minimum: 1, errorMessage: `${field}: expected a positive whole number, got '{value}'` }) as const;
const jsonObject = { type: 'object' } as const;

// ---- endpoints

/** Params of the routes under `/api/v1/endpoints/:name`. */
export const EndpointParamsSchema = {
  type: 'object',
  properties: { name: endpointName },
} as const;

// ---- monitoring

/** Body of `PUT /api/v1/monitoring`. `defaultApp` only with `enabled: true` is checked by the route. */
export const SetMonitoringBodySchema = {
  type: 'object',
  properties: {
    enabled: trueOrFalse('enabled'),
    basePeriod: { type: ['string', 'number'], errorMessage: 'basePeriod: expected a duration such as 5s or 10m' },
    defaultApp: { type: 'string', errorMessage: 'defaultApp: expected the name of a built-in app, or "none", with enabled: true' },
  },
} as const;

// ---- plugins

/** Body of `POST /api/v1/plugins`. */
export const PublishPluginBodySchema = {
  type: 'object',
  required: ['code'],
  properties: {
    manifest: {},
    code: { type: 'string' },
    map: { type: 'string' },
    config: jsonObject,
    strict: trueOrFalse('strict'),
    shadow: trueOrFalse('shadow'),
  },
  errorMessage: {
    type: 'body: expected { manifest, code, map?, config?, strict? }',
    required: 'body: expected { manifest, code, map?, config?, strict? }',
    properties: { code: 'body: expected { manifest, code, map?, config?, strict? }' },
  },
} as const;

/** Body of `POST /api/v1/plugins/:name/rollback`. */
export const RollbackBodySchema = {
  type: 'object',
  properties: { to: { type: 'string', errorMessage: 'to: expected a version string' } },
} as const;

const CONFIGURE_MESSAGE = 'body: expected { set: { key: value } } (merge) or { config: { ... } } (replace)';
/** Body of `PATCH /api/v1/plugins/:name/config`: `set` (merge) or `config` (replace), one of them. */
export const ConfigurePluginBodySchema = {
  type: 'object',
  oneOf: [
    { required: ['set'], not: { required: ['config'] }, properties: { set: { ...jsonObject, not: { type: 'array' } } } },
    { required: ['config'], not: { required: ['set'] }, properties: { config: { ...jsonObject, not: { type: 'array' } } } },
  ],
  errorMessage: CONFIGURE_MESSAGE,
} as const;

// ---- shared parts of the queries below

/** A query's `limit`: a positive whole number; empty is as if absent. */
const optionalLimit = {
  anyOf: [{ const: '' }, positiveWholeNumber('limit')],
  errorMessage: "limit: expected a positive whole number, got '{value}'",
} as const;
const BATCH_ID_MESSAGE = "batch id '{value}' is not valid: use 1-64 letters, digits, '_' or '-'";

// ---- batches

/** Query of `POST /api/v1/endpoints/:name/batches`. */
export const BatchQuerySchema = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: BATCH_ID.source, errorMessage: BATCH_ID_MESSAGE },
  },
} as const;

// ---- dead letters

/** Query of `GET /api/v1/dlq`. An empty `endpoint` or `limit` is as if absent. */
export const DeadLetterQuerySchema = {
  type: 'object',
  properties: {
    // or a stage's letters: `_outputs`, `_serving`, `_tasks` (DEAD_LETTER_STAGES)
    endpoint: { anyOf: [{ const: '' }, endpointName, { enum: Object.values(DEAD_LETTER_STAGES) }], errorMessage: ENDPOINT_NAME_MESSAGE },
    reason: { type: 'string' },
    limit: optionalLimit,
  },
} as const;

/** Params of `GET /api/v1/dlq/:seq`. */
export const DeadLetterParamsSchema = {
  type: 'object',
  properties: { seq: { type: 'integer', minimum: 1, errorMessage: "'{value}' is not a dead-letter sequence" } },
} as const;

/** Body of `POST /api/v1/dlq/replay`. */
export const ReplayBodySchema = {
  type: 'object',
  properties: {
    endpoint: endpointName,
    seqs: { type: 'array', items: { type: 'integer', minimum: 1 }, errorMessage: 'seqs: expected a list of dead-letter sequences' },
    includeLate: {},
  },
} as const;

// ---- results

/** Query of `GET /api/v1/results`. */
export const ResultsQuerySchema = {
  type: 'object',
  properties: {
    endpoint: { anyOf: [{ const: '' }, endpointName], errorMessage: ENDPOINT_NAME_MESSAGE },
    app: { type: 'string' },
    limit: optionalLimit,
    since: { type: 'string' },
    batch: { anyOf: [{ const: '' }, { type: 'string', pattern: BATCH_ID.source }], errorMessage: BATCH_ID_MESSAGE },
  },
} as const;

/** Query of `GET /api/v1/endpoints/:name/serving`. An empty `limit` is as if absent. */
export const ServingQuerySchema = {
  type: 'object',
  properties: {
    since: { type: 'string' },
    limit: optionalLimit,
  },
} as const;

/** Query of `GET /api/v1/results/latest`. */
export const LatestQuerySchema = {
  type: 'object',
  properties: { endpoint: { anyOf: [{ const: '' }, endpointName], errorMessage: ENDPOINT_NAME_MESSAGE } },
} as const;

// ---- validation

/**
 * The two Ajv instances: bodies are JSON and checked as sent (no coercion: `"true"` is not
 * true); query strings and params are text, coerced to the schema's types as Fastify does.
 * `verbose`: an error carries the value, for `{value}` in messages.
 */
const compilers = {
  body: compilerOnUse(ajvOnUse({ allErrors: true, strict: false, verbose: true }, true)),
  text: compilerOnUse(ajvOnUse({ allErrors: true, strict: false, verbose: true, coerceTypes: 'array' }, true)),
};

/** The part of a request a schema is for: a JSON body, or text (query string, params). */
export type RequestPart = 'body' | 'text';

/**
 * A check of a request part: throws the INVALID_ARGUMENT error the host answers. An absent body is
 * checked as `{}`. The schema is compiled on the check's first call (the client's checks: see
 * `schema-check.ts`), or `'now'` (the API's routes, so that a schema Ajv refuses stops the host
 * at its start, not each request of its route).
 */
export function validator(schema: object, part: RequestPart = 'body', compile: 'now' | 'on first use' = 'on first use'): (data: unknown) => void {
  let validate = compile === 'now' ? compilers[part](schema) : undefined;
  return (data) => {
    validate ??= compilers[part](schema);
    if (!validate(data ?? {})) throw new ModelwatchError('INVALID_ARGUMENT', messageOf(validate.errors ?? []));
  };
}

/**
 * The first error's message: its `errorMessage` (with `{value}` filled in), or Ajv's own with the
 * field's path. The errors of an `anyOf`'s or `oneOf`'s branches come before the combinator's
 * own, which carries the message that says what the branches ask for: they are passed over.
 */
export function messageOf(errors: ErrorObject[]): string {
  const e = errors.find((x) => !/\/(anyOf|oneOf)\/\d+\//.test(x.schemaPath)) ?? errors[0];
  if (!e) return 'invalid request';
  if (e.keyword === 'errorMessage') {
    const inner = (e.params as { errors?: ErrorObject[] }).errors?.[0];
    return (e.message ?? '').replace(/\{value\}/g, () => String(inner?.data));
  }
  const field = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  return `${field || 'body'}: ${e.message ?? 'is not valid'}`;
}

// ---- tokens and the audit log

/** Body of `POST /api/v1/tokens`. */
export const CreateTokenBodySchema = {
  type: 'object',
  required: ['name', 'scopes'],
  properties: {
    name: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$',
      errorMessage: "token name ${0} is not valid: use 1-64 letters, digits, '_' or '-', starting with a letter or digit",
    },
    scopes: {
      type: 'array',
      minItems: 1,
      items: { enum: ['ingest', 'read', 'write', 'admin'] },
      errorMessage: 'scopes: expected one or more of ingest, read, write, admin',
    },
    endpoints: { type: 'string', minLength: 1, maxLength: 256, errorMessage: 'endpoints: expected a glob of endpoint names, e.g. fraud-*' },
  },
  additionalProperties: false,
  errorMessage: {
    type: 'body: expected { name, scopes, endpoints? }',
    required: 'body: expected { name, scopes, endpoints? }',
    additionalProperties: 'body: expected { name, scopes, endpoints? }',
  },
} as const;

/** Params of `DELETE /api/v1/tokens/:name`. */
export const TokenParamsSchema = {
  type: 'object',
  properties: {
    name: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$',
      errorMessage: "token name ${0} is not valid: use 1-64 letters, digits, '_' or '-', starting with a letter or digit",
    },
  },
} as const;

/** Query of `GET /api/v1/audit`. */
export const AuditQuerySchema = {
  type: 'object',
  properties: {
    since: { type: 'string' },
    limit: { type: 'integer', minimum: 1, maximum: 10_000, errorMessage: "limit: expected a whole number from 1 to 10000, got '{value}'" },
  },
} as const;

// ---- alerts

export { AlertRuleSchema } from '../alerts/rules.js';

/** Params of `/api/v1/alerts/rules/:name`. */
export const AlertRuleParamsSchema = {
  type: 'object',
  properties: {
    name: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$',
      errorMessage: "rule name ${0} is not valid: use 1-64 letters, digits, '_' or '-', starting with a letter or digit",
    },
  },
} as const;

/** Params of `/api/v1/alerts/:id` and `/api/v1/alerts/silences/:id`. */
export const AlertIdParamsSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$', errorMessage: 'id ${0} is not valid: letters, digits, _ and - only' },
  },
} as const;

/** Query of `GET /api/v1/alerts`. */
export const AlertListQuerySchema = {
  type: 'object',
  properties: { active: { type: 'boolean', errorMessage: 'active: expected true or false' } },
  additionalProperties: false,
  errorMessage: { additionalProperties: 'query: expected active only' },
} as const;

/** Body of `POST /api/v1/alerts/silences`. */
export const CreateSilenceBodySchema = {
  type: 'object',
  required: ['duration'],
  properties: {
    rule: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$', errorMessage: 'rule: expected a rule name' },
    endpoint: { type: 'string', minLength: 1, maxLength: 256, errorMessage: 'endpoint: expected an endpoint name or glob' },
    duration: { type: 'string', pattern: DURATION_PATTERN, errorMessage: 'duration: expected a duration such as 2h' },
    comment: { type: 'string', maxLength: 1024 },
  },
  additionalProperties: false,
  anyOf: [{ required: ['rule'] }, { required: ['endpoint'] }],
  errorMessage: {
    required: 'body: expected { rule?, endpoint?, duration, comment? }',
    additionalProperties: 'body: expected { rule?, endpoint?, duration, comment? }',
    anyOf: 'body: a silence needs a rule, an endpoint or both',
  },
} as const;
