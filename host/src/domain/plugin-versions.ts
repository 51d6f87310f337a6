import type { PluginRecord, PluginVersionRecord } from '@modelwatch/protocol';

/** The record of the active version. */
export function activeVersionOf(p: PluginRecord): PluginVersionRecord | undefined {
  return p.versions.find((v) => v.version === p.activeVersion);
}

/** The record of the shadow version, when one runs. */
export function shadowVersionOf(p: PluginRecord): PluginVersionRecord | undefined {
  return p.shadow ? p.versions.find((v) => v.version === p.shadow!.version) : undefined;
}
