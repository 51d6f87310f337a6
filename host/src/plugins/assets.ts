import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The host package's folder (`host/`, or `node_modules/@modelwatch/host/`), found from this
 * module's own location (`dist/plugins/assets.js`, or its source under test), never from the
 * working directory.
 */
const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A file or folder the published package carries, `host/<inPackage>` (copied there by the
 * package's `prepack`, `host/scripts/pack-assets.mjs`), or else the repository's own,
 * `<inRepo>` next to `host/`: an installed package has the first, a checkout the second.
 */
export function packageAsset(inPackage: string, inRepo: string): string {
  const packaged = join(PACKAGE_DIR, inPackage);
  return existsSync(packaged) ? packaged : join(PACKAGE_DIR, '..', inRepo);
}
