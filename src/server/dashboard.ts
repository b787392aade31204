/**
 * Serves the live dashboard page at /dashboard (a yoga plugin, so it shares the server's
 * request pipeline): index.html and the bundle files that scripts/build-dashboard.ts writes
 * into dist/dashboard. Files are read on each request, so a rebuild shows up without a restart.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { Plugin } from 'graphql-yoga';

const DASHBOARD_PATH = '/dashboard';
const DIST_DIR = resolve(import.meta.dirname, '..', '..', 'dist', 'dashboard');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** Bundle files have a content hash in their name: a changed file gets a new name. */
const CACHE_FOREVER = 'public, max-age=31536000, immutable';
/** index.html names the current bundle, so the browser must ask again every time. */
const ALWAYS_REVALIDATE = 'no-cache';

/**
 * The page renders data from the API only through textContent, and loads nothing but its own
 * files: the policy says so, to limit the damage of any injection bug.
 */
const PAGE_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dashboard not built</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 40em; margin: 4em auto; color: #1b2330">
<h1>The dashboard has not been built</h1>
<p>Its bundle is missing from <code>dist/dashboard</code>. Run <code>npm run build:dashboard</code>, then reload this page.
(<code>npm start</code> and <code>npm ci</code> build it for you; starting the service with <code>node src/main.ts</code> does not.)</p>
</body></html>
`;

/** The file a request path names, or null for anything outside dist/dashboard. */
function fileFor(pathname: string): string | null {
  if (pathname === DASHBOARD_PATH || pathname === `${DASHBOARD_PATH}/`) return join(DIST_DIR, 'index.html');
  let name: string;
  try {
    name = decodeURIComponent(pathname.slice(DASHBOARD_PATH.length + 1));
  } catch {
    return null;
  }
  // The bundle is one flat folder: a plain file name is all a request may name (no "..", no
  // sub-folders, no hidden files); the resolve check below is a second guard against traversal.
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(name)) return null;
  const file = resolve(DIST_DIR, name);
  return file.startsWith(DIST_DIR + sep) ? file : null;
}

export function useDashboard(): Plugin {
  return {
    async onRequest({ url, request, fetchAPI, endResponse }) {
      if (url.pathname !== DASHBOARD_PATH && !url.pathname.startsWith(`${DASHBOARD_PATH}/`)) return;
      const respond = (status: number, body: string | Uint8Array<ArrayBuffer> | null, headers: Record<string, string>) =>
        endResponse(
          new fetchAPI.Response(request.method === 'HEAD' ? null : body, {
            status,
            headers: { 'x-content-type-options': 'nosniff', ...headers },
          }),
        );

      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return respond(405, 'Method Not Allowed', { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      }
      const file = fileFor(url.pathname);
      const contentType = file ? CONTENT_TYPES[extname(file)] : undefined;
      const isPage = file?.endsWith(`${sep}index.html`) ?? false;
      if (!file || !contentType || !(await isFile(file))) {
        if (isPage) {
          return respond(503, NOT_BUILT_PAGE, { 'content-type': CONTENT_TYPES['.html']!, 'cache-control': 'no-store' });
        }
        return respond(404, 'Not Found', { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      }
      const body = await readFile(file);
      return respond(200, body, {
        'content-type': contentType,
        'cache-control': isPage ? ALWAYS_REVALIDATE : CACHE_FOREVER,
        ...(isPage ? { 'content-security-policy': PAGE_SECURITY_POLICY } : {}),
      });
    },
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
