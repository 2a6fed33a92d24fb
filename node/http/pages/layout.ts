import { html, raw } from './html.js'
import type { Html } from './html.js'

export interface LayoutOptions {
  title: string
  /** the node serving the page */
  node: string
  /** extra stylesheets (vendor CSS) */
  styles?: string[]
  /** ES modules of the page (under /assets/app/) */
  modules?: string[]
  /** classic scripts (vendor bundles) loaded before the modules */
  scripts?: string[]
}

/** The page frame: navigation, the token form (for writes and remote reads), the page's modules. */
export function layout (o: LayoutOptions, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · cit-node</title>
<link rel="stylesheet" href="/assets/app/style.css">
${(o.styles ?? []).map(s => html`<link rel="stylesheet" href="${s}">\n`)}
</head>
<body>
<header class="top">
  <a class="brand" href="/">cit-node</a>
  <nav><a href="/">mesh</a> <a href="/jobs">jobs</a> <a href="/api/openapi.json">api</a> <a href="/metrics">metrics</a></nav>
  <span class="served" title="the node serving this page">via <code>${o.node.slice(0, 12)}…</code></span>
</header>
<main>
${body}
</main>
<footer>
  <details id="token-box"><summary>token</summary>
    <form id="token-form" class="token-form">
      <label>Bearer token (<code>cit-node token create --role submit</code>)
        <input type="password" name="token" id="token-input" autocomplete="off" spellcheck="false"></label>
      <button type="submit">use</button> <button type="button" id="token-clear">forget</button>
      <span id="token-status" role="status"></span>
    </form>
  </details>
</footer>
${(o.scripts ?? []).map(s => html`<script src="${s}"></script>\n`)}
<script type="module" src="/assets/app/common.js"></script>
${(o.modules ?? []).map(m => html`<script type="module" src="/assets/app/${m}"></script>\n`)}
</body>
</html>
`.text
}

/** an error as a page (the API answers JSON; a browser gets this) */
export function errorPage (node: string, status: number, code: string, message: string): string {
  const hint = status === 401 ? raw('<p>This machine is not the node\'s own: reading needs a token with the <code>read</code> role. Paste one under <em>token</em> below.</p>') : ''
  return layout({ title: `${status}`, node }, html`<h1>${status}: ${message}</h1><p class="muted"><code>${code}</code></p>${hint}`)
}
