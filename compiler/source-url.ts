// `source <id> = http "<url>"`: the URL is checked here, where its span is
// known, so a policy that cannot be fetched never compiles. Only plain
// http:// is fetched (by range requests in the handler threads); each other
// scheme is refused with the reason.
import type { SourceAst } from '../grammar/ast.js';
import { diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';

const WHY_NOT: Record<string, string> = {
  'https:': 'TLS is not done in the fault path (a handshake per connection, certificates to pin); put a plain-http proxy on a loopback address in front of the server',
  'file:': 'write a file source instead: source <id> = file "<path>"',
  'ftp:': 'ftp has no range requests over one kept-alive connection; serve the file over http',
};

/** The URL an http source fetches, normalised, or undefined after reporting why not. */
export function checkHttpUrl(s: SourceAst, out: Diagnostic[]): string | undefined {
  const text = s.path.value;
  const name = s.name.name;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(text) ? '' : ' (it has no scheme: write http://host:port/path)';
    out.push(diag('httpUrlInvalid', s.path.span, { name, url: text, reason: `it does not parse as a URL${scheme}` }));
    return undefined;
  }
  if (url.protocol !== 'http:') {
    const scheme = url.protocol.slice(0, -1);
    const why = WHY_NOT[url.protocol] ?? 'only http:// is fetched, by range requests from the handler threads';
    out.push(diag('httpUrlScheme', s.path.span, { name, scheme }, why));
    return undefined;
  }
  const reason = url.hostname === '' ? 'it has no host'
    : url.username !== '' || url.password !== '' ? 'it carries a user name or password, which plain http would send in clear'
    : url.hash !== '' ? 'it has a #fragment, which is never sent to the server'
    : url.pathname === '/' && url.search === '' ? 'it names no file on the server'
    : undefined;
  if (reason !== undefined) {
    out.push(diag('httpUrlInvalid', s.path.span, { name, url: text, reason }));
    return undefined;
  }
  return url.href;
}
