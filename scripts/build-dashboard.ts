/**
 * Builds the dashboard page (src/dashboard) into dist/dashboard with esbuild: one minified
 * JavaScript bundle and one CSS bundle with source maps, under content-hashed names so a browser
 * can cache them for good, and index.html pointing at them.
 *
 * package.json runs it on `prepare` (after `npm ci` / `npm install`) and on `prestart`, so
 * `npm start` always serves a bundle built from the sources it runs with, never a stale one.
 * `npm run build:dashboard` runs it by hand.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const sourceDir = join(root, 'src', 'dashboard');
export const DASHBOARD_DIST_DIR = join(root, 'dist', 'dashboard');

export interface BuiltDashboard {
  dir: string;
  /** The hashed file names index.html refers to. */
  script: string;
  stylesheet: string;
}

export async function buildDashboard(): Promise<BuiltDashboard> {
  // Built next to the live folder and swapped in at the end, so a running server never sees a
  // half-written bundle (at worst, for an instant, no bundle: it then answers 503).
  const stagingDir = `${DASHBOARD_DIST_DIR}.building-${process.pid}`;
  rmSync(stagingDir, { recursive: true, force: true });
  mkdirSync(stagingDir, { recursive: true });
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: { main: join(sourceDir, 'main.ts') },
      outdir: stagingDir,
      entryNames: '[name]-[hash]',
      bundle: true,
      format: 'esm',
      platform: 'browser',
      // Browsers of the last two years or so: no transpiling of what they all support.
      target: ['chrome120', 'firefox121', 'safari17'],
      minify: true,
      sourcemap: 'linked',
      metafile: true,
      logLevel: 'warning',
    });
    const outputs = Object.entries(result.metafile.outputs);
    const entry = outputs.find(([, output]) => output.entryPoint !== undefined);
    if (!entry || !entry[1].cssBundle) throw new Error('esbuild produced no JavaScript entry with its CSS bundle');
    const script = basename(entry[0]);
    const stylesheet = basename(entry[1].cssBundle);

    const html = readFileSync(join(sourceDir, 'index.html'), 'utf8');
    if (!html.includes('%DASHBOARD_JS%') || !html.includes('%DASHBOARD_CSS%')) {
      throw new Error('src/dashboard/index.html must contain the %DASHBOARD_JS% and %DASHBOARD_CSS% placeholders');
    }
    writeFileSync(
      join(stagingDir, 'index.html'),
      html.replaceAll('%DASHBOARD_JS%', `/dashboard/${script}`).replaceAll('%DASHBOARD_CSS%', `/dashboard/${stylesheet}`),
    );

    rmSync(DASHBOARD_DIST_DIR, { recursive: true, force: true });
    renameSync(stagingDir, DASHBOARD_DIST_DIR);
    return { dir: DASHBOARD_DIST_DIR, script, stylesheet };
  } catch (error) {
    rmSync(stagingDir, { recursive: true, force: true });
    throw error;
  }
}

if (import.meta.main) {
  const started = performance.now();
  try {
    const built = await buildDashboard();
    const size = (name: string) => `${(statSync(join(built.dir, name)).size / 1024).toFixed(0)} kB`;
    console.log(
      `dashboard built into ${relative(root, built.dir)}: ${built.script} (${size(built.script)}), ` +
        `${built.stylesheet} (${size(built.stylesheet)}) in ${Math.round(performance.now() - started)} ms`,
    );
  } catch (error) {
    console.error(`dashboard build failed: ${(error as Error).message}`);
    process.exit(1);
  }
}
