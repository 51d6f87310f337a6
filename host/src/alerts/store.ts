/**
 * The alerts module's stores. They live in `store/alert-store.ts` (records change by the named
 * operations of their stores, on the one compare-and-set primitive of `store/kv.ts`); here the
 * rule store is given the rules' validation.
 * @module
 */
import type { KV } from '@nats-io/kv';
import { RuleStore } from '../store/alert-store.js';
import { validateRule, type AlertRule } from './rules.js';

export {
  AlertStore,
  openAlertBuckets,
  SeriesStore,
  SilenceStore,
  type AlertBuckets,
  type AlertPatch,
  type SeriesState,
  type Silence,
} from '../store/alert-store.js';

/** The rules: those of the file (read-only, in memory) and those made through the API (KV `mw_alert_rules`). */
export class AlertRuleStore extends RuleStore<AlertRule> {
  constructor(kv: KV, fileRules: readonly AlertRule[] = [], loadedAt = Date.now()) {
    super(kv, validateRule, fileRules, loadedAt);
  }
}
