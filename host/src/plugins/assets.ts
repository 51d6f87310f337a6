import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The host package's folder (`host/` in a checkout, `node_modules/@modelwatch/host/` installed),
 * found from this module's own location (`dist/plugins/assets.js`, or its source under test),
 * never from the working directory.
 */
const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));

/**
 * An installed package carries no sources (its `files` are `dist`, `bin` and the assets); a
 * checkout has `host/src`. Telling them apart by that, not by whether the package's copy of an
 * asset exists, keeps a checkout on the repository's files while `npm pack` copies them in.
 */
const INSTALLED = !existsSync(join(PACKAGE_DIR, 'src'));

/**
 * A file or folder the host needs from the repository around it: in an installed package its
 * copy, `<package>/<inPackage>` (put there by the package's `prepack`,
 * `host/scripts/pack-assets.mjs`); in a checkout the repository's own, `<inRepo>` next to `host/`.
 */
export function packageAsset(inPackage: string, inRepo: string): string {
  return INSTALLED ? join(PACKAGE_DIR, inPackage) : join(PACKAGE_DIR, '..', inRepo);
}
