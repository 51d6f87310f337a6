/** Options every command takes. */
export interface GlobalArgs {
  host: string;
  json: boolean;
  /** The API token (else MODELWATCH_TOKEN, else `<data-dir>/admin.token`). */
  token?: string | undefined;
  /** The data folder: the host's, and where the CLI finds `admin.token`. */
  'data-dir'?: string | undefined;
}
