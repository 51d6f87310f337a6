const enc = new TextEncoder();
const dec = new TextDecoder();

/** JSON over NATS payloads. */
export const jsonCodec = {
  encode(v: unknown): Uint8Array {
    return enc.encode(JSON.stringify(v));
  },
  decode<T>(data: Uint8Array): T {
    return JSON.parse(dec.decode(data)) as T;
  },
};
