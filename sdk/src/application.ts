import type { AppOutput, MonitoringContext } from './types.js';

/**
 * The mark every subclass of {@link MonitoringApplication} inherits (a static property under a
 * registered symbol), so the host can tell at publish, inside the sandbox, that a plugin's
 * default export extends this class: the SDK is bundled into each plugin, so the class itself
 * is a different object in every bundle.
 * @internal
 */
export const APPLICATION_MARK = Symbol.for('modelwatch.MonitoringApplication');

/**
 * The base class of a monitoring app. A plugin's entry module default-exports a
 * subclass; the host calls {@link MonitoringApplication.doTracking} once per window
 * and endpoint, inside a sandbox, with a fresh instance.
 *
 * @example
 * ```ts
 * import { MonitoringApplication, ResultKind, ResultStatus, type MonitoringContext } from '@modelwatch/sdk';
 *
 * export default class RowCount extends MonitoringApplication {
 *   doTracking(ctx: MonitoringContext) {
 *     const n = ctx.sample.length;
 *     return [
 *       { name: 'rows', value: n },
 *       {
 *         name: 'low_traffic',
 *         value: n,
 *         kind: ResultKind.SystemPerformance,
 *         status: n < 10 ? ResultStatus.PotentialDetection : ResultStatus.NoDetection,
 *       },
 *     ];
 *   }
 * }
 * ```
 */
export abstract class MonitoringApplication<Config = Record<string, unknown>> {
  /** @internal */
  static readonly [APPLICATION_MARK] = true;
  abstract doTracking(ctx: MonitoringContext<Config>): AppOutput | Promise<AppOutput>;
}
