/** Options every command takes. */
export interface GlobalArgs {
  host: string;
  json: boolean;
}
