/**
 * The in-process store's registry file (gateway/registry-journal.ts writes it; the conformance
 * leftovers check reads it): one JSON line per change, `{"put": record}` or `{"del": sessionId}`,
 * the last line for an id winning. A crash can cut the last line short: it is ignored. A file that
 * starts with `[` is a whole-registry snapshot as the store wrote it before the journal.
 */

type Line<R> = { put: R } | { del: string };

/** The line that records `r` as it now is. */
export const putLine = (r: { sessionId: string }) => JSON.stringify({ put: r });
/** The line that records the deletion of `sessionId`. */
export const deleteLine = (sessionId: string) => JSON.stringify({ del: sessionId });

/** The live records of a registry file's text; `file` names it in errors. */
export function parseRegistry<R extends { sessionId: string }>(text: string, file: string): Map<string, R> {
  const records = new Map<string, R>();
  const fail = (where: string, err: unknown) => new Error(`cannot load store file ${file}: ${where}${(err as Error).message}`);
  if (text.startsWith("[")) {
    let rows: R[];
    try {
      rows = JSON.parse(text) as R[];
    } catch (err) {
      throw fail("", err);
    }
    for (const r of rows) records.set(r.sessionId, r);
    return records;
  }
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    if (!raw) return;
    let line: Line<R>;
    try {
      line = JSON.parse(raw) as Line<R>;
    } catch (err) {
      if (i === lines.length - 1) return; // cut short by a crash while appending
      throw fail(`line ${i + 1}: `, err);
    }
    if ("put" in line) records.set(line.put.sessionId, line.put);
    else records.delete(line.del);
  });
  return records;
}
