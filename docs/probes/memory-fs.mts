/* eslint-disable */
// An in-memory SessionFsProvider for the probes of issue 13; counts calls per operation.
export const files = new Map<string, string>();
const dirs = new Set<string>(["/"]);
export const calls: Record<string, number> = {};
const sqlCalls: string[] = [];
function count(op: string, p: string) { calls[op] = (calls[op] ?? 0) + 1; if (process.env.TRACE) console.log("fs", op, p); }
const enoent = (p: string) => Object.assign(new Error(`ENOENT ${p}`), { code: "ENOENT" });
function parentDirs(p: string) { const parts = p.split("/").filter(Boolean); for (let i = 0; i < parts.length; i++) dirs.add("/" + parts.slice(0, i).join("/")); }
export const provider = (sid: string) => ({
  async readFile(p: string) { count("readFile", p); const v = files.get(p); if (v === undefined) throw enoent(p); return v; },
  async writeFile(p: string, c: string) { count("writeFile", p); parentDirs(p); files.set(p, c); },
  async appendFile(p: string, c: string) { count("appendFile", p); parentDirs(p); files.set(p, (files.get(p) ?? "") + c); },
  async exists(p: string) { count("exists", p); return files.has(p) || dirs.has(p); },
  async stat(p: string) { count("stat", p); if (files.has(p)) return { isFile: true, isDirectory: false, size: Buffer.byteLength(files.get(p)!), mtime: new Date().toISOString(), birthtime: new Date().toISOString() } as any; if (dirs.has(p)) return { isFile: false, isDirectory: true, size: 0, mtime: new Date().toISOString(), birthtime: new Date().toISOString() } as any; throw enoent(p); },
  async mkdir(p: string) { count("mkdir", p); parentDirs(p + "/x"); dirs.add(p); },
  async readdir(p: string) { count("readdir", p); if (!dirs.has(p)) throw enoent(p); const pre = p.endsWith("/") ? p : p + "/"; const s = new Set<string>(); for (const k of [...files.keys(), ...dirs]) if (k.startsWith(pre) && k !== p) s.add(k.slice(pre.length).split("/")[0]!); return [...s]; },
  async readdirWithTypes(p: string) { count("readdirWithTypes", p); const names = await this.readdir(p); const pre = p.endsWith("/") ? p : p + "/"; return names.map((n) => ({ name: n, type: dirs.has(pre + n) ? "directory" : "file" })) as any; },
  async rm(p: string) { count("rm", p); for (const k of [...files.keys()]) if (k === p || k.startsWith(p + "/")) files.delete(k); for (const k of [...dirs]) if (k === p || k.startsWith(p + "/")) dirs.delete(k); },
  async rename(a: string, b: string) { count("rename", a + "->" + b); const v = files.get(a); if (v === undefined) throw enoent(a); files.delete(a); parentDirs(b); files.set(b, v); },
});

