/**
 * An endpoint to create as a request gives it (`POST /api/v1/endpoints`, each item of
 * `POST /api/v1/endpoints/bulk`): checked into the store's `NewEndpoint`, with the message of the
 * first thing wrong.
 */
import { checkEndpointName, checkNames, PRINTABLE_NAME } from '../domain/names.js';
import { checkTags } from '../domain/selector.js';
import { ModelwatchError } from '../errors.js';
import type { NewEndpoint } from '../store/endpoints.js';
import type { CreateEndpointBody } from './contract.js';

/** A model name or version: 1-256 printable characters. */
export function modelField(v: unknown, what: string): string {
  if (typeof v !== 'string' || !PRINTABLE_NAME.test(v)) throw new ModelwatchError('INVALID_ARGUMENT', `${what}: expected 1-256 printable characters`);
  return v;
}

/**
 * The endpoint a body describes (its `reference`, if any, is the caller's).
 * @throws {ModelwatchError} INVALID_ARGUMENT naming the field
 */
export function newEndpointOf(body: { [K in keyof CreateEndpointBody]?: unknown }, maxFeatures?: number): NewEndpoint {
  const name = checkEndpointName(body.name);
  const featureNames = body.featureNames === undefined ? [] : checkNames(body.featureNames, 'featureNames', maxFeatures);
  const labelNames = body.labelNames === undefined ? [] : checkNames(body.labelNames, 'labelNames', maxFeatures);
  const overlap = featureNames.filter((f) => labelNames.includes(f));
  if (overlap.length) throw new ModelwatchError('INVALID_ARGUMENT', `'${overlap[0]}' is both a feature and a label`);
  // a JSON boolean, as PATCH takes it: Boolean('false') is true
  if (body.monitoring !== undefined && typeof body.monitoring !== 'boolean')
    throw new ModelwatchError('INVALID_ARGUMENT', 'monitoring: expected true or false');
  return {
    name,
    featureNames,
    labelNames,
    monitoring: body.monitoring ?? true,
    ...(body.modelName !== undefined && { modelName: modelField(body.modelName, 'modelName') }),
    ...(body.modelVersion !== undefined && { modelVersion: modelField(body.modelVersion, 'modelVersion') }),
    ...(body.tags !== undefined && { tags: checkTags(body.tags) }),
  };
}
