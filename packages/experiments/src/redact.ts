/** What a password is shown as. */
export const REDACTED = '***';

/**
 * A database URL fit for errors and logs: the password (in the authority or as a `password=`
 * query parameter) becomes `***`. Strings that are not URLs are redacted by pattern, so a
 * malformed URL given by a user is never echoed with its password either.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = REDACTED;
    for (const key of [...u.searchParams.keys()]) if (/^(password|pass|pwd)$/i.test(key)) u.searchParams.set(key, REDACTED);
    return u.toString();
  } catch {
    return redactByPattern(url);
  }
}

function redactByPattern(s: string): string {
  return s.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@\s]*@/gi, `$1${REDACTED}@`).replace(/([?&;\s](?:password|pass|pwd)=)[^&\s]*/gi, `$1${REDACTED}`);
}

/**
 * Any text (an error message from a driver, a log line) with every URL's password and each
 * given secret replaced by `***`.
 */
export function redactText(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = redactByPattern(text);
  for (const s of secrets) if (s && s.length >= 3) out = out.replaceAll(s, REDACTED).replaceAll(encodeURIComponent(s), REDACTED);
  return out;
}

/** The password of a URL (decoded), to scrub it from messages that might quote it. */
export function urlPassword(url: string): string | undefined {
  try {
    const u = new URL(url);
    return (u.password && decodeURIComponent(u.password)) || u.searchParams.get('password') || undefined;
  } catch {
    return /:\/\/[^:/?#@\s]*:([^@\s]*)@/.exec(url)?.[1];
  }
}
