// The dashboard runs in a browser, and the project has a single tsconfig whose `lib` is for
// Node. This brings the DOM types into that one program, so `npm run typecheck` covers the page.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />

// Stylesheets imported for their side effect: esbuild bundles them into the page's CSS file.
declare module '*.css';
