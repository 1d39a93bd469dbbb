/**
 * Secret hygiene checks shared by the stack tests (rendered objects, outputs) and the conformance
 * suite (logs, error bodies, metrics): which strings to look for, and where they were found,
 * without ever printing a secret in a failure message.
 */

/**
 * A secret plus the parts of it that are secrets on their own: the password of a URL
 * (`redis://:pw@host`), the values of a JSON object (`{"user":"token"}`). Short strings are
 * dropped: they would match by chance.
 */
export function secretNeedles(values: Iterable<string>, minLength = 12): string[] {
  const out = new Set<string>();
  const add = (v: string) => {
    if (v.length >= minLength) out.add(v);
  };
  const walk = (v: unknown) => {
    if (typeof v === "string") expand(v);
    else if (v && typeof v === "object") for (const inner of Object.values(v)) walk(inner);
  };
  const expand = (v: string) => {
    add(v);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
      try {
        const u = new URL(v);
        if (u.password) add(decodeURIComponent(u.password));
      } catch {
        // not a URL after all
      }
    }
    if (v.startsWith("{")) {
      try {
        walk(JSON.parse(v));
      } catch {
        // not JSON
      }
    }
  };
  for (const v of values) expand(v);
  return [...out];
}

/** How a secret is named in a failure message: never the value, only enough to tell which. */
export const maskSecret = (s: string) => `${s.slice(0, 3)}…(${s.length} chars)`;

/** The secrets that occur in `text`, masked, each with `where` (a file name, a resource). */
export function findSecrets(text: string, needles: readonly string[], where: string): string[] {
  return needles.filter((n) => text.includes(n)).map((n) => `${maskSecret(n)} in ${where}`);
}
