// Rough email parsing for the spam task: enough MIME (multipart, quoted-printable, base64,
// encoded-word subjects, HTML stripping) to get readable text; not a full RFC 5322/2045 parser.

/**
 * Raw email -> subject (RFC 2047 words decoded) and readable body: the first text/plain part of a
 * multipart message (else the first text/html), transfer encoding undone, HTML tags stripped,
 * whitespace collapsed to single spaces.
 */
export function parseEmail(raw: string): { subject: string; body: string } {
  const { headers, body } = splitHeaders(raw);
  const subject = collapseWhitespace(decodeEncodedWords(headers.get('subject') ?? ''));
  const part = extractText(headers, body, 0);
  const text = part ? (part.html || looksLikeHtml(part.text) ? stripHtml(part.text) : part.text) : '';
  return { subject, body: collapseWhitespace(text) };
}

function splitHeaders(raw: string): { headers: Map<string, string>; body: string } {
  // A MIME part may have no headers at all: it then starts with the blank line.
  const match = /^\r?\n/.exec(raw) ?? /\r?\n\r?\n/.exec(raw);
  const head = match ? raw.slice(0, match.index) : raw;
  const body = match ? raw.slice(match.index + match[0].length) : '';
  const headers = new Map<string, string>();
  // Unfold continuation lines, then keep the first occurrence of each header.
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** The readable text of a (possibly multipart) entity, or null if it has none. */
function extractText(headers: Map<string, string>, body: string, depth: number): { text: string; html: boolean } | null {
  const contentType = headers.get('content-type') ?? 'text/plain';
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (type.startsWith('multipart/') && depth < 5) {
    const boundary = /boundary\s*=\s*"?([^";]+)"?/i.exec(contentType)?.[1]?.trim();
    if (boundary) {
      const pieces = body.split(`--${boundary}`);
      let html: { text: string; html: boolean } | null = null;
      for (let i = 1; i < pieces.length; i++) {
        if (pieces[i].startsWith('--')) break; // closing delimiter
        const part = splitHeaders(pieces[i].replace(/^[ \t]*\r?\n/, ''));
        const found = extractText(part.headers, part.body, depth + 1);
        if (found && !found.html) return found;
        if (found && !html) html = found;
      }
      if (html) return html;
    }
    // Malformed multipart: fall through and treat the body as text.
  } else if (type !== '' && !type.startsWith('text/') && depth > 0) {
    return null; // attachments, images, signatures
  }
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1]?.toLowerCase() ?? '';
  const encoding = (headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
  return { text: decodeTransfer(body, encoding, charset), html: type === 'text/html' };
}

function bufferEncoding(charset: string): BufferEncoding {
  return charset === 'utf-8' || charset === 'utf8' ? 'utf8' : 'latin1';
}

/** A string of byte values (one char per byte) decoded with the charset; other strings pass through. */
function bytesToText(bytes: string, charset: string): string {
  // eslint-disable-next-line no-control-regex
  if (bufferEncoding(charset) !== 'utf8' || /[^\u0000-\u00ff]/.test(bytes)) return bytes;
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function decodeTransfer(body: string, encoding: string, charset: string): string {
  if (encoding === 'base64') {
    return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString(bufferEncoding(charset));
  }
  if (encoding === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return bytesToText(bytes, charset);
  }
  return body;
}

/** Decodes RFC 2047 "=?charset?Q|B?text?=" words in a header value. */
function decodeEncodedWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2') // whitespace between adjacent encoded words is not content
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, charset: string, kind: string, text: string) => {
      const enc = bufferEncoding(charset.toLowerCase());
      if (kind.toUpperCase() === 'B') return Buffer.from(text, 'base64').toString(enc);
      const bytes = text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
      return bytesToText(bytes, charset.toLowerCase());
    });
}

function looksLikeHtml(text: string): boolean {
  return /<(html|body|head|div|p|br|table|font|td|center|a\s)[\s>/]/i.test(text);
}

const HTML_ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", copy: '(c)', reg: '(R)' };

/** Rough HTML -> text: drops comments, head/style/script content and tags; decodes common entities. */
function stripHtml(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(style|script|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<\/?[A-Za-z!][^>]*>/g, ' ')
    .replace(/&(#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);/g, (entity, code: string) => {
      if (code.startsWith('#x') || code.startsWith('#X')) return safeFromCodePoint(parseInt(code.slice(2), 16), entity);
      if (code.startsWith('#')) return safeFromCodePoint(parseInt(code.slice(1), 10), entity);
      return HTML_ENTITIES[code.toLowerCase()] ?? entity;
    });
}

function safeFromCodePoint(cp: number, fallback: string): string {
  return Number.isInteger(cp) && cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : fallback;
}

function collapseWhitespace(text: string): string {
  // Control characters (other than whitespace) are noise from broken encodings.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000e-\u001f\u007f]/g, ' ').replace(/\s+/g, ' ').trim();
}
