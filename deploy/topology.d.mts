/** Types of deploy/topology.mjs, the one source of the example deployment (its doc comments are there). */
export interface ProcessGroup {
  name?: string;
  roles: readonly string[];
  replicas?: number;
  disk?: boolean;
  http?: boolean;
}
export interface NatsNodeAddress {
  host: string;
  clientPort: number;
  clusterPort: number;
  /** The address it listens on. @default '0.0.0.0' */
  listen?: string;
}
export const IMAGE: string;
export const NATS_IMAGE: string;
export const CLUSTER_NAME: string;
export const NATS_NODES: number;
export const NATS_CLIENT_PORT: number;
export const NATS_CLUSTER_PORT: number;
export const HTTP_PORT: number;
export const GROUPS: ReadonlyArray<Required<ProcessGroup>>;
export function natsServerArgs(i: number, opts: { at: (j: number) => NatsNodeAddress; storeDir: string }): string[];
export function hostFlags(group: ProcessGroup, opts: { natsUrls: readonly string[]; dataDir: string; nodeId?: string; httpHost?: string }): string[];
export function compose(): Record<string, unknown>;
export function k8sNats(): Array<Record<string, unknown>>;
export function k8sModelwatch(): Array<Record<string, unknown>>;
export function generatedFiles(): Record<string, Array<Record<string, unknown>>>;
export function render(docs: ReadonlyArray<Record<string, unknown>>): string;
