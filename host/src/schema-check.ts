import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import ajvErrors from 'ajv-errors';

/**
 * The JSON-schema checks of the host, compiled when first used rather than when their module
 * loads. Compiling a schema takes milliseconds, and a CLI command loads modules (the client, the
 * alert rules, the manifest) whose checks most commands never run: compiled eagerly, they were a
 * third of every command's start.
 * @module
 */

/** Ajv with `options` (and ajv-errors' `errorMessage` keyword when `errorMessages`), made on first use and then shared. */
export function ajvOnUse(options: Options, errorMessages = false): () => Ajv {
  let ajv: Ajv | undefined;
  return () => {
    if (!ajv) {
      ajv = new Ajv(options);
      if (errorMessages) (ajvErrors as unknown as (a: Ajv) => Ajv)(ajv);
    }
    return ajv;
  };
}

/** A compiled schema's check: true when `data` matches; `errors` says why not (that of the last call), as Ajv's own. */
export interface SchemaCheck<T> {
  (data: unknown): data is T;
  errors: ErrorObject[] | null | undefined;
}

/** `schema`'s check, compiled by `ajv()` on its first call. */
export function checkOnUse<T = unknown>(ajv: () => Ajv, schema: object): SchemaCheck<T> {
  let validate: (((data: unknown) => boolean) & { errors?: ErrorObject[] | null }) | undefined;
  const check = ((data: unknown): data is T => {
    validate ??= ajv().compile<T>(schema);
    const ok = validate(data);
    check.errors = validate.errors;
    return ok;
  }) as SchemaCheck<T>;
  check.errors = null;
  return check;
}

/**
 * A compiler of schemas that arrive at run time (a plugin's `configSchema`, a route's schema):
 * each compiled by `ajv()` once, kept while the schema object lives.
 */
export function compilerOnUse(ajv: () => Ajv): (schema: object) => ValidateFunction {
  const compiled = new WeakMap<object, ValidateFunction>();
  return (schema) => {
    let validate = compiled.get(schema);
    if (!validate) {
      validate = ajv().compile(schema);
      compiled.set(schema, validate);
    }
    return validate;
  };
}
